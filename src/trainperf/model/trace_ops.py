"""Measured per-op kernel times from a Kineto trace recorded with shapes, as OpGraph-schema rows.

Small and self-contained (orjson only) so calibration does not depend on the trace package: a kernel is
linked to its launching runtime call by `correlation`, the runtime call to the innermost cpu_op by
`External id`; the cpu_op's "Input Dims" / "Input type" / "Concrete Inputs" rebuild the OpCall that the
cost registry prices (trainperf.costs), as the PyTorch profiler documents them (record_shapes=True).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.capture.schema import OPGRAPH_SCHEMA
from trainperf.costs import cost
from trainperf.costs.profiler import op_call_from_profiler
from trainperf.costs.types import OpCall
from trainperf.vocab import Phase

_GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


@dataclass(frozen=True)
class TraceOps:
    """Per-op measurements of one trace: OpGraph rows plus measured_s (sum of kernel durations),
    measured_kernels, cpu_s (the cpu_op's duration) and launch_s (its runtime launch calls)."""

    path: str
    device: str
    ops: pl.DataFrame
    launch_durations_s: list[float]
    free_op_durations_s: list[float]


def op_call(name: str, args: dict[str, Any]) -> OpCall:
    """Rebuild an OpCall from a cpu_op's recorded shapes, types and concrete inputs."""
    return op_call_from_profiler(name, args.get("Input Dims"), args.get("Input type"), args.get("Concrete Inputs"))


def _rows(name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    call = op_call(name, args)
    c = cost(call)
    row: dict[str, Any] = {k: None for k in OPGRAPH_SCHEMA}
    tensors = call.tensors()
    row.update(op=name, overload="", phase=Phase.FWD.value, module="", module_type="", layer=-1,
               input_shapes=[list(t.shape) for t in tensors], input_dtypes=[t.dtype for t in tensors],
               output_shapes=[], output_dtypes=[])
    if c is None:
        return None
    g, a = c.gemm, c.attention
    row.update(category=c.category.value, flops=c.flops, bytes_read=c.bytes_read, bytes_written=c.bytes_written,
               kernels=c.kernels, math_dtype=c.math_dtype or "", covered=True,
               gemm_batch=g.batch if g else 0, gemm_m=g.m if g else 0, gemm_n=g.n if g else 0, gemm_k=g.k if g else 0,
               attn_batch=a.batch if a else 0, attn_heads=a.heads if a else 0, attn_q=a.q_len if a else 0,
               attn_kv=a.kv_len if a else 0, attn_dim=a.head_dim if a else 0, attn_dim_v=a.head_dim_v if a else 0,
               attn_causal=bool(a.causal) if a else False, attn_backward=bool(a.backward) if a else False)
    return row


def read_trace_ops(path: str | Path) -> TraceOps:
    """Measured kernel time per leaf cpu_op of a trace recorded with shapes."""
    p = Path(path)
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        doc = orjson.loads(raw)
    except (OSError, EOFError, orjson.JSONDecodeError) as err:
        raise ValueError(f"{p}: not a readable profiler trace ({err}); expected Kineto JSON, plain or .gz") from None
    if not (isinstance(doc, list) or (isinstance(doc, dict) and "traceEvents" in doc)):
        raise ValueError(f"{p}: JSON without 'traceEvents'; expected a PyTorch profiler (Kineto) trace")
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    props = doc.get("deviceProperties", []) if isinstance(doc, dict) else []
    device = props[0].get("name", "") if props else ""
    ops_by_ext: dict[int, dict[str, Any]] = {}
    runtime: dict[int, dict[str, Any]] = {}
    kernels: list[dict[str, Any]] = []
    launches: list[float] = []
    free: list[float] = []
    for e in events:
        cat = e.get("cat")
        a = e.get("args") or {}
        if cat == "cpu_op" and "External id" in a:
            ops_by_ext[a["External id"]] = e
        elif cat in ("cuda_runtime", "cuda_driver") and "correlation" in a:
            runtime[a["correlation"]] = e
            if "Launch" in e.get("name", ""):
                launches.append(e.get("dur", 0.0) * 1e-6)
        elif cat in _GPU_CATS:
            kernels.append(e)
    per_op: dict[int, list[float]] = {}
    launch_of: dict[int, float] = {}
    for k in kernels:
        r = runtime.get(int((k.get("args") or {}).get("correlation", -1)))
        if r is None:
            continue
        ext = (r.get("args") or {}).get("External id")
        if ext in ops_by_ext:
            per_op.setdefault(ext, []).append(k.get("dur", 0.0) * 1e-6)
            launch_of[ext] = launch_of.get(ext, 0.0) + r.get("dur", 0.0) * 1e-6
    launched = set(per_op)
    for ext, e in ops_by_ext.items():
        if ext not in launched and e.get("name") in ("aten::view", "aten::as_strided", "aten::transpose", "aten::t",
                                                      "aten::reshape", "aten::unsqueeze", "aten::slice", "aten::expand"):
            free.append(e.get("dur", 0.0) * 1e-6)
    rows = []
    for ext, durs in per_op.items():
        e = ops_by_ext[ext]
        row = _rows(e["name"], e.get("args") or {})
        if row is None:
            continue
        row.update(measured_s=sum(durs), measured_kernels=len(durs), cpu_s=e.get("dur", 0.0) * 1e-6,
                   launch_s=launch_of.get(ext, 0.0), ts=e.get("ts", 0.0))
        rows.append(row)
    schema = {**OPGRAPH_SCHEMA, "measured_s": pl.Float64, "measured_kernels": pl.Int64, "cpu_s": pl.Float64,
              "launch_s": pl.Float64, "ts": pl.Float64}
    df = pl.DataFrame(rows, schema=schema).sort("ts").with_row_index("i").with_columns(pl.col("i").cast(pl.Int64).alias("idx")).drop("i")
    return TraceOps(path=str(p), device=device, ops=df, launch_durations_s=launches, free_op_durations_s=free)
