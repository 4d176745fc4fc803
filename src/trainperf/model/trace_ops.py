"""Measured per-op kernel times from a Kineto trace recorded with shapes, as OpGraph-schema rows.

Reads the trace with the project's one trace reader (`trainperf.trace.load_trace`): its Events table links
each kernel to its launching runtime call (`correlation`) and that call to the innermost cpu_op (`External
id`; older Kineto, which writes the correlation as the call's External id, by the op whose span holds the
call). The cpu_op's "Input Dims" / "Input type" / "Concrete Inputs" (the Events `shapes` column) rebuild the
OpCall that the cost registry prices (trainperf.costs), as the PyTorch profiler records them
(record_shapes=True).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.costs import cost
from trainperf.costs.profiler import op_call_from_profiler
from trainperf.costs.types import OpCall
from trainperf.opgraph import OPGRAPH_SCHEMA
from trainperf.trace import load_trace
from trainperf.trace.schema import RUNTIME_CATS
from trainperf.vocab import OpCategory, Phase

# View / metadata ops: no kernel; their cpu_op durations price eager mode's per-view host cost.
_FREE_OPS = ("aten::view", "aten::as_strided", "aten::transpose", "aten::t", "aten::reshape", "aten::unsqueeze",
             "aten::slice", "aten::expand")
_US = 1e-6


def _s(ns: int) -> float:
    return ns / 1000.0 * _US


def _seconds(ns: pl.Series) -> list[float]:
    """Integer ns -> s as the trace's microsecond text gives them (us x 1e-6): the same floats as reading the
    JSON directly, so that fits on the shipped traces do not move with the reader. (numpy divides exactly;
    polars multiplies by the reciprocal, one ulp off.)"""
    return (ns.fill_null(0).to_numpy() / 1000.0 * _US).tolist()  # type: ignore[no-any-return]


_EXTRA = {"measured_s": pl.Float64, "measured_kernels": pl.Int64, "cpu_s": pl.Float64, "launch_s": pl.Float64,
          "ts": pl.Float64, "step": pl.Int64, "host_copy": pl.Utf8, "main_thread": pl.Boolean}
_UNPRICED = {"name": pl.Utf8, "reason": pl.Utf8, "measured_s": pl.Float64, "kernels": pl.Int64, "step": pl.Int64}
NO_STEP = -1
"""`step` of ops and kernels in a trace without ProfilerStep spans: the whole trace is one step."""


@dataclass(frozen=True)
class TraceOps:
    """Per-op measurements of one trace: OpGraph rows plus measured_s (sum of kernel durations),
    measured_kernels, cpu_s (the cpu_op's duration), launch_s (its runtime launch calls) and ts (the op's
    start, us); `device` is the traced GPU's name and `device_props` its deviceProperties entry."""

    path: str
    device: str
    ops: pl.DataFrame
    launch_durations_s: list[float]
    free_op_durations_s: list[float]
    device_props: Mapping[str, Any] = field(default_factory=dict)
    unpriced: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_UNPRICED))
    """GPU work the model cannot price: ops recorded without shapes (reason "no shapes"), with tensor lists
    or outputs the trace did not record ("shapes unrecorded"), without a cost formula ("no formula"),
    kernels no cpu_op launched ("no cpu_op") and kernels whose launch precedes the trace ("no launch", step
    null); one row per op (per kernel for the last two)."""
    step_busy_s: Mapping[int, float] = field(default_factory=dict)
    """Measured GPU busy time (union of kernel/memcpy/memset intervals) per profiler step, kernels assigned
    to the step of their launch; NO_STEP when the trace has no ProfilerStep spans."""
    steps_cpu_s: Mapping[int, float] = field(default_factory=dict)
    """Host time per profiler step: the span of its ProfilerStep annotation (NO_STEP: first to last event)."""


def op_call(name: str, args: dict[str, Any]) -> OpCall:
    """Rebuild an OpCall from a cpu_op's recorded shapes, types and concrete inputs."""
    return op_call_from_profiler(name, args.get("Input Dims"), args.get("Input type"), args.get("Concrete Inputs"),
                                 args.get("Input Strides"))


def shapes_unrecorded(dims: Any, types: Any) -> bool:
    """True when the profiler recorded a tensor-list argument without its shapes: older Kineto writes
    "TensorList" arguments as `[]` (newer ones as a list of shapes). Pricing such an op (aten::cat,
    _foreach_*) would give a 0-byte op; it is unpriced instead."""
    return any(t == "TensorList" and d == [] for d, t in zip(list(dims or []), list(types or []), strict=False))


def op_row(call: OpCall) -> dict[str, Any] | None:
    """One OpGraph-schema row (phase fwd, no module) for an op call, or None when no cost formula covers it."""
    c = cost(call)
    if c is None:
        return None
    row: dict[str, Any] = {k: None for k in OPGRAPH_SCHEMA}
    tensors = call.tensors()
    row.update(op=call.op, overload="", phase=Phase.FWD.value, module="", module_type="", layer=-1,
               input_shapes=[list(t.shape) for t in tensors], input_dtypes=[t.dtype for t in tensors],
               output_shapes=[], output_dtypes=[])
    g, a = c.gemm, c.attention
    row.update(category=c.category.value, flops=c.flops, bytes_read=c.bytes_read, bytes_written=c.bytes_written,
               kernels=c.kernels, math_dtype=c.math_dtype or "", covered=True,
               gemm_batch=g.batch if g else 0, gemm_m=g.m if g else 0, gemm_n=g.n if g else 0, gemm_k=g.k if g else 0,
               gemm_align=g.align if g else 0,
               attn_batch=a.batch if a else 0, attn_heads=a.heads if a else 0, attn_q=a.q_len if a else 0,
               attn_kv=a.kv_len if a else 0, attn_dim=a.head_dim if a else 0, attn_dim_v=a.head_dim_v if a else 0,
               attn_causal=bool(a.causal) if a else False, attn_backward=bool(a.backward) if a else False)
    return row


def host_transfer(kernel_names: Sequence[str]) -> str:
    """"pageable" or "pinned" when the op's GPU work is a host<->device memcpy (CUPTI names them "Memcpy HtoD
    (Pageable -> Device)", "Memcpy DtoH (Device -> Pinned)"), "device" when it is only on-device memcpys (the
    copy engine: "Memcpy DtoD"), else "" (kernels)."""
    for k in kernel_names:
        if k.startswith("Memcpy") and ("HtoD" in k or "DtoH" in k):
            return "pinned" if "Pinned" in k else "pageable"
    return "device" if kernel_names and all(k.startswith("Memcpy DtoD") for k in kernel_names) else ""


def memcpy_row(name: str, cats: Sequence[str], nbytes: Sequence[int | None], transfer: str) -> dict[str, Any] | None:
    """A copy row priced by its memcpy records' own byte counts (CUPTI records `bytes` for every memcpy and
    memset), for an op recorded without shapes whose GPU work is only memcpy/memset; None otherwise."""
    if not cats or any(c not in ("gpu_memcpy", "gpu_memset") for c in cats) or any(b is None for b in nbytes):
        return None
    moved = float(sum(b or 0 for b in nbytes))
    if moved <= 0:
        return None
    row: dict[str, Any] = {k: None for k in OPGRAPH_SCHEMA}
    # a transfer moves its bytes once over PCIe; an on-device copy reads and writes them in HBM; a memset
    # writes them
    read = 0.0 if all(c == "gpu_memset" for c in cats) else moved
    transfer = "" if transfer == "device" else transfer
    row.update(op=name, overload="", phase=Phase.FWD.value, module="", module_type="", layer=-1, input_shapes=[],
               input_dtypes=[], output_shapes=[], output_dtypes=[], category=OpCategory.COPY.value, flops=0.0,
               bytes_read=read, bytes_written=0.0 if transfer else moved, kernels=len(cats), math_dtype="",
               covered=True, gemm_batch=0, gemm_m=0, gemm_n=0, gemm_k=0, gemm_align=0, attn_batch=0, attn_heads=0, attn_q=0,
               attn_kv=0, attn_dim=0, attn_dim_v=0, attn_causal=False, attn_backward=False)
    return row


# Kernel-name markers of fp32 GEMMs / convolutions run on TF32 tensor cores: cuBLAS/CUTLASS sm80+ kernels
# ("sm80_xmma_gemm_tf32f32_...", "cutlass_80_tensorop_s1688tf32gemm_...", "ampere_sgemm" is SIMT) and cuDNN's
# ("sm80_xmma_fprop_implicit_gemm_tf32f32_...", "..._tf32_..."). A trace records which one ran.
_TF32_MARKERS = ("tf32",)


def kernel_precision(kernel_names: Sequence[str], math_dtype: str | None, category: str) -> str:
    """The math dtype an op's kernels actually ran at: "tfloat32" for an fp32 GEMM or conv whose kernel names
    say TF32 (torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32), else the formula's math dtype."""
    fp32 = category in (OpCategory.MATMUL.value, OpCategory.CONV.value) and (math_dtype or "") in ("float32", "fp32", "")
    if fp32 and any(m in k.lower() for k in kernel_names for m in _TF32_MARKERS):
        return "tfloat32"
    return math_dtype or ""


def _shape_args(shapes: str | None) -> dict[str, Any]:
    """The Events `shapes` JSON ([Input Dims, Input type, Concrete Inputs, Input Strides]) as the profiler's
    args keys."""
    if not shapes:
        return {}
    dims, types, concrete, *strides = orjson.loads(shapes)
    return {"Input Dims": dims, "Input type": types, "Concrete Inputs": concrete,
            "Input Strides": strides[0] if strides else None}


def read_trace_ops(path: str | Path) -> TraceOps:
    """Measured kernel time per leaf cpu_op of a trace recorded with shapes (one file; a folder of per-rank
    files is read as one set, the first rank naming the device)."""
    p = Path(path)
    ts = load_trace(p)  # a TraceError (ValueError) naming the file when it cannot be read
    ev = ts.events
    rank = ts.ranks[0] if ts.ranks else None
    key = ["rank", "op_idx"]
    # Kernels (and memcpy/memset) with the launching call's duration, summed per cpu_op.
    gpu = ev.filter(pl.col("gpu") & pl.col("op_idx").is_not_null()).select("rank", "idx", "op_idx", "launch_idx", "dur",
                                                                          k_name="name", k_cat="cat", k_bytes="bytes")
    calls = ev.select("rank", launch_idx="idx", call_dur="dur")
    gpu = gpu.join(calls, on=["rank", "launch_idx"], how="left").sort("rank", "idx")
    per_op = gpu.group_by(key, maintain_order=True).agg(k_ns=pl.col("dur"), call_ns=pl.col("call_dur").fill_null(0),
                                                        k_names=pl.col("k_name"), k_cats=pl.col("k_cat"),
                                                        k_bytes=pl.col("k_bytes"))
    has_steps = ev["step"].drop_nulls().len() > 0
    ops = ev.filter(pl.col("cat") == "cpu_op").select("rank", op_idx="idx", name="name", cpu_ns="dur", ts="ts",
                                                      shapes="shapes", step="step", tid="tid")
    main_tid = _main_thread(ev)
    measured = per_op.join(ops, on=key, how="inner").sort("rank", "ts", "op_idx")
    rows, unpriced = [], []
    for r in measured.iter_rows(named=True):
        step = r["step"] if has_steps else NO_STEP
        k_s = sum(_s(x) for x in r["k_ns"])  # sequential sums in kernel order, as the measurements were always added
        args = _shape_args(r["shapes"])
        row, why = None, "no shapes"  # recorded without shapes (record_shapes=False): nothing to price it by
        if args and shapes_unrecorded(args["Input Dims"], args["Input type"]):
            why = "shapes unrecorded"
        elif args:
            row = op_row(op_call(r["name"], args))
            why = "no formula"
        # a formula that finds no bytes and no FLOPs in an op that ran kernels lacks its shapes (e.g. the
        # output of aten::arange, which the trace does not record): unpriced, never a 0-byte op
        if row is not None and not (row["flops"] or row["bytes_read"] or row["bytes_written"]):
            row, why = None, "shapes unrecorded"
        transfer = host_transfer(r["k_names"])
        if row is None:
            row = memcpy_row(r["name"], r["k_cats"], r["k_bytes"], transfer)  # priced by the copies' own bytes
        if row is not None:
            row.update(host_copy=transfer, math_dtype=kernel_precision(r["k_names"], row["math_dtype"], row["category"]))
        if row is None:
            unpriced.append({"name": r["name"], "reason": why, "measured_s": k_s, "kernels": len(r["k_ns"]), "step": step})
            continue
        row.update(measured_s=k_s, measured_kernels=len(r["k_ns"]), cpu_s=_s(r["cpu_ns"] or 0),
                   launch_s=sum(_s(x) for x in r["call_ns"]), ts=r["ts"] * 1e-3, step=step,
                   main_thread=r["tid"] == main_tid)
        rows.append(row)
    df = pl.DataFrame(rows, schema={**OPGRAPH_SCHEMA, **_EXTRA}).with_row_index("i")
    df = df.with_columns(pl.col("i").cast(pl.Int64).alias("idx")).drop("i")

    runtime = ev.filter(pl.col("cat").is_in(RUNTIME_CATS) & pl.col("correlation").is_not_null())
    launches = _seconds(runtime.filter(pl.col("name").str.contains("Launch", literal=True))["dur"])
    # View ops that launched nothing (one per External id, as the profiler links them)
    free = (ev.filter((pl.col("cat") == "cpu_op") & pl.col("external_id").is_not_null())
            .unique(["rank", "external_id"], keep="last", maintain_order=True)
            .join(per_op.select(key), left_on=["rank", "idx"], right_on=key, how="anti")
            .filter(pl.col("name").is_in(_FREE_OPS)))
    orphans = ev.filter(pl.col("gpu") & pl.col("op_idx").is_null())
    for r in orphans.select("name", "dur", "step", "launch_idx").iter_rows(named=True):
        # no launch in the trace: launched before the profiler started (the previous step's tail), in no step
        launched = r["launch_idx"] is not None
        unpriced.append({"name": f"{'no cpu_op' if launched else 'launched before the trace'}: {r['name']}",
                         "reason": "no cpu_op" if launched else "no launch", "measured_s": _s(r["dur"] or 0),
                         "kernels": 1, "step": (r["step"] if has_steps else NO_STEP) if launched else None})
    return TraceOps(path=str(p), device=(rank.device_name or "") if rank else "", ops=df,
                    launch_durations_s=launches, free_op_durations_s=_seconds(free["dur"]),
                    device_props=dict(rank.device_props) if rank else {},
                    unpriced=pl.DataFrame(unpriced, schema=_UNPRICED), step_busy_s=_step_busy(ev, has_steps),
                    steps_cpu_s=_step_spans(ev, has_steps))


def _main_thread(ev: pl.DataFrame) -> int | None:
    """The Python thread: the one that records ProfilerStep spans, else the one with the most cpu_ops (the
    autograd engine runs backward ops on its own threads)."""
    st = ev.filter((pl.col("cat") == "user_annotation") & pl.col("name").str.starts_with("ProfilerStep#"))
    if st.height:
        return int(st["tid"][0])
    ops = ev.filter(pl.col("cat") == "cpu_op")
    return int(ops["tid"].mode().sort()[0]) if ops.height else None


def _union_s(start: Any, end: Any) -> float:
    """Length of the union of intervals [start, end) (ns in, s out): GPU busy time with overlapping streams
    counted once."""
    import numpy as np

    order = np.argsort(start, kind="stable")
    s, e = np.asarray(start, dtype=float)[order], np.asarray(end, dtype=float)[order]
    reach = np.maximum.accumulate(e)
    gap = np.maximum(s[1:] - reach[:-1], 0.0)
    return float((reach[-1] - s[0] - gap.sum()) * 1e-9) if len(s) else 0.0


def _step_busy(ev: pl.DataFrame, has_steps: bool) -> dict[int, float]:
    # GPU work launched inside the trace: a kernel whose launch the trace lacks ran the previous step's tail
    g = ev.filter(pl.col("gpu") & pl.col("dur").is_not_null() & pl.col("launch_idx").is_not_null()).select("ts", "dur", "step")
    if not has_steps:
        return {NO_STEP: _union_s(g["ts"].to_numpy(), (g["ts"] + g["dur"]).to_numpy())} if g.height else {}
    out = {}
    for (step,), d in g.drop_nulls("step").group_by("step"):
        out[int(step)] = _union_s(d["ts"].to_numpy(), (d["ts"] + d["dur"]).to_numpy())  # type: ignore[call-overload]
    return dict(sorted(out.items()))


def _step_spans(ev: pl.DataFrame, has_steps: bool) -> dict[int, float]:
    if not has_steps:
        t = ev.filter(pl.col("dur").is_not_null())
        return {NO_STEP: _s(int((t["ts"] + t["dur"]).to_numpy().max() - t["ts"].to_numpy().min()))} if t.height else {}
    st = ev.filter((pl.col("cat") == "user_annotation") & pl.col("name").str.starts_with("ProfilerStep#"))
    return {int(n.split("#")[1]): _s(d) for n, d in st.select("name", "dur").iter_rows() if n.split("#")[1].isdigit()}


def kernel_time_by_span(events: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """GPU time launched inside each cpu_op named in `names`: the kernels (and memcpy/memset) whose runtime
    launch call falls in the op's span on the same thread. For traces recorded without shapes or by older
    Kineto (External ids of runtime calls that are correlation ids), where `op_idx` cannot name the op.
    Columns: rank, op_idx, name, ts (ns), kernel_s, kernels; ops without GPU work are left out. The named ops
    must not nest in one another."""
    ops = (events.filter((pl.col("cat") == "cpu_op") & pl.col("name").is_in(names))
           .select("rank", "pid", "tid", "name", op_idx="idx", t="ts", end=pl.col("ts") + pl.col("dur")).sort("t"))
    calls = events.filter(pl.col("cat").is_in(RUNTIME_CATS)).select("rank", launch_idx="idx", pid="pid", tid="tid",
                                                                     t="ts")
    gpu = (events.filter(pl.col("gpu")).select("rank", "launch_idx", "dur")
           .join(calls, on=["rank", "launch_idx"], how="inner").sort("t"))
    hit = (gpu.join_asof(ops, on="t", by=["rank", "pid", "tid"], strategy="backward", check_sortedness=False)
           .filter(pl.col("t") < pl.col("end")))
    return (hit.group_by("rank", "op_idx", maintain_order=True)
            .agg(name=pl.col("name").first(), ts=pl.col("t").min(), kernel_s=pl.col("dur").sum() / 1e9,
                 kernels=pl.len()).sort("rank", "ts"))
