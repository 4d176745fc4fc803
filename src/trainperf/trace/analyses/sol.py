"""Speed of light per op: for each cpu_op recorded with shapes that launched GPU kernels (the innermost
op, so ``aten::linear`` and its ``aten::addmm`` child are not both counted), rebuild the aten call from
``Input Dims`` / ``Input type`` / ``Concrete Inputs`` (PyTorch profiler, record_shapes=True) and price it
with the same per-op formulas the model uses (trainperf.costs). Against the GPU's peak rate and memory
bandwidth (trainperf.hardware) this gives the roofline time (SOL), the achieved TFLOP/s and GB/s, the
fraction of SOL reached and what bounds the op. docs/analyses/sol.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from trainperf.trace.engine import ENGINE
from trainperf.vocab import BoundBy, OpCategory

if TYPE_CHECKING:
    from trainperf.costs import OpCall

# Below this much roofline time per kernel, a kernel's fixed cost dominates: an empty kernel takes about
# 2-5 us from launch to completion on V100..H100 (NVIDIA CUDA C++ Best Practices Guide, kernel launch
# overhead; measured with empty kernels in PyTorch's CUDA-graphs blog post, 2021).
KERNEL_FLOOR_NS = 5_000


def op_call(name: str, shapes_json: str) -> OpCall:
    """An OpCall from one row's ``shapes`` column (JSON [Input Dims, Input type, Concrete Inputs])."""
    # the cost registry is imported on first use: traces without shapes never need it (6 ms of imports)
    from trainperf.costs.profiler import op_call_from_profiler

    dims, types, concrete = orjson.loads(shapes_json)
    return op_call_from_profiler(name, dims, types, concrete)


def _price(name: str, shapes: str) -> tuple[Any, ...]:
    from trainperf.costs import cost

    try:
        c = cost(op_call(name, shapes))
    except Exception:  # a formula that cannot read these shapes: uncovered, never a crash
        c = None
    if c is None:
        return (None, None, None, None, False)
    return (c.category.value, float(c.flops), float(c.bytes), c.math_dtype, True)


def _peak_tflops(gpu: Any, dtype: str | None) -> float | None:
    if dtype is None:
        return None
    for d in (dtype, "float32"):  # a dtype the part lacks (bf16 on V100) runs at the fp32 rate
        try:
            return float(gpu.peak_tflops(d))
        except ValueError:
            continue
    return None


def op_sol(events: pl.DataFrame, gpu: Any | None) -> pl.DataFrame:
    """One row per (rank, op, shapes): calls, kernels, time_ns (their kernels' GPU time), flops and bytes
    per call, category, math_dtype, covered; with a GPU also sol_ns (roofline time of all calls),
    sol_frac (sol_ns / time_ns), achieved_tflops, achieved_GBps, intensity (FLOP/byte) and bound_by.
    Communication kernels are left out (collectives.py covers them)."""
    ev = events.lazy()
    k = ev.filter(pl.col("gpu") & pl.col("op_idx").is_not_null()
                  & (pl.col("category") != OpCategory.COMMUNICATION.value))
    per_op = k.group_by("rank", "op_idx").agg(kernels=pl.len(), time_ns=pl.col("dur").sum(),
                                              mean_kernel_ns=pl.col("dur").mean())
    ops = ev.filter(pl.col("cat") == "cpu_op").select("rank", op_idx="idx", op="name", shapes="shapes")
    per_op = per_op.join(ops, on=["rank", "op_idx"], how="left")
    sig = per_op.group_by("rank", "op", "shapes").agg(
        calls=pl.len(), kernels=pl.col("kernels").sum(), time_ns=pl.col("time_ns").sum(),
        mean_kernel_ns=(pl.col("mean_kernel_ns") * pl.col("kernels")).sum() / pl.col("kernels").sum(),
    ).collect(engine=ENGINE)
    uniq = sig.lazy().filter(pl.col("shapes").is_not_null()).select("op", "shapes").unique().collect(engine=ENGINE)
    priced = [_price(o, s) for o, s in uniq.iter_rows()]
    lut = uniq.with_columns(pl.DataFrame(priced, schema={"cost_category": pl.String, "flops": pl.Float64,
                                                         "bytes": pl.Float64, "math_dtype": pl.String,
                                                         "covered": pl.Boolean}, orient="row"))
    out = sig.lazy().join(lut.lazy(), on=["op", "shapes"], how="left", nulls_equal=True).with_columns(
        pl.col("covered").fill_null(False))
    if gpu is None:
        return out.sort("time_ns", descending=True).collect(engine=ENGINE)
    bw = float(gpu.hbm_bw_GBps)
    peaks = {d: _peak_tflops(gpu, d) for d in lut["math_dtype"].drop_nulls().unique().to_list()}
    peak = pl.col("math_dtype").replace_strict(peaks, default=None, return_dtype=pl.Float64)
    t_compute = pl.col("flops") / (peak * 1e3)  # ns per call: TFLOP/s = 1e3 FLOP/ns
    t_memory = pl.col("bytes") / bw  # GB/s = byte/ns
    out = out.with_columns(t_c=t_compute.fill_null(0.0), t_m=t_memory)
    sol = pl.when("covered").then(pl.max_horizontal("t_c", "t_m") * pl.col("calls"))
    # Work a kernel could finish in under its fixed cost (launch, ramp-up, tail: a few us) is latency-bound.
    tiny = sol / pl.col("kernels") < KERNEL_FLOOR_NS
    out = out.with_columns(
        sol_ns=sol,
        sol_frac=sol / pl.col("time_ns"),
        achieved_tflops=pl.col("flops") * pl.col("calls") / pl.col("time_ns") / 1e3,
        achieved_GBps=pl.col("bytes") * pl.col("calls") / pl.col("time_ns"),
        intensity=pl.col("flops") / pl.col("bytes"),
        bound_by=pl.when(~pl.col("covered")).then(pl.lit(None, pl.String))
        .when(tiny).then(pl.lit(BoundBy.LATENCY.value))
        .when(pl.col("t_c") >= pl.col("t_m")).then(pl.lit(BoundBy.COMPUTE.value))
        .otherwise(pl.lit(BoundBy.MEMORY.value)),
    ).drop("t_c", "t_m")
    return out.sort("time_ns", descending=True).collect(engine=ENGINE)


def sol_summary(sol: pl.DataFrame) -> dict[str, float]:
    """Covered share of op kernel time, total SOL time over covered time, and FLOPs totals."""
    total = float(sol["time_ns"].sum() or 0)
    cov = sol.filter("covered")
    ct = float(cov["time_ns"].sum() or 0)
    out = {"op_kernel_ns": total, "covered_ns": ct, "covered_frac": ct / total if total else math.nan}
    if "sol_ns" in sol.columns:
        s = float(cov["sol_ns"].sum() or 0)
        out.update(sol_ns=s, sol_frac=s / ct if ct else math.nan)
    return out


def resolve_gpu(name: str | None, props: dict[str, Any] | None = None) -> tuple[Any | None, str | None]:
    """The GPUSpec for a device from the trace or ``--gpu`` (trainperf.hardware.get_gpu), or None and a
    one-line reason; the only place the trace analyzer looks up hardware. ``props`` (the rank's
    deviceProperties entry) identifies parts whose device name is shared (ROCm's "AMD Radeon Graphics")."""
    if not name:
        return None, "no GPU named in the trace (deviceProperties); pass --gpu for speed of light"
    from trainperf.hardware import get_gpu

    try:
        return get_gpu(props if props and "numSms" in props else name), None
    except KeyError as e:
        msg = e.args[0] if e.args else str(e)
        return None, f"speed of light skipped: {msg}; pass --gpu NAME"
