"""Speed of light per op: for each cpu_op recorded with shapes that launched GPU kernels (the innermost
op, so ``aten::linear`` and its ``aten::addmm`` child are not both counted), rebuild the aten call from
``Input Dims`` / ``Input type`` / ``Concrete Inputs`` (PyTorch profiler, record_shapes=True) and price it
with the same per-op formulas the model uses (trainperf.costs). Against the GPU's peak rate and memory
bandwidth (trainperf.hardware) this gives the roofline time (SOL), the achieved TFLOP/s and GB/s, the
fraction of SOL reached and what bounds the op. docs/analyses/sol.md.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from trainperf.trace.analyses.pricing import (
    KERNEL_FLOOR_NS,
    NO_FORMULA,
    NO_SHAPES,
    UNRECORDED,
    op_call,
    peak_tflops,
    price,
    resolve_gpu,
)
from trainperf.trace.engine import ENGINE
from trainperf.vocab import BoundBy, OpCategory

__all__ = ["KERNEL_FLOOR_NS", "op_call", "op_sol", "price", "resolve_gpu", "sol_summary"]

PRICE_SCHEMA = {"cost_category": pl.String, "flops": pl.Float64, "bytes": pl.Float64, "math_dtype": pl.String,
                "covered": pl.Boolean, "unpriced": pl.String}


def _ordered(lf: pl.LazyFrame) -> pl.DataFrame:
    """Most time first, then a full tie-break: the same order on every run."""
    return lf.sort(["time_ns", "rank", "op", "shapes"], descending=[True, False, False, False],
                   nulls_last=True).collect(engine=ENGINE)


def op_sol(events: pl.DataFrame, gpu: Any | None) -> pl.DataFrame:
    """One row per (rank, op, shapes): calls, kernels, time_ns (their kernels' GPU time), flops and bytes
    per call, category, math_dtype, covered; with a GPU also sol_ns (roofline time of all calls),
    sol_frac (sol_ns / time_ns), achieved_tflops, achieved_GBps, intensity (FLOP/byte) and bound_by.
    Communication kernels are left out (collectives.py covers them)."""
    ev = events.lazy()
    k = ev.filter(pl.col("gpu") & pl.col("op_idx").is_not_null()
                  & (pl.col("category") != OpCategory.COMMUNICATION.value))
    per_op_df = k.group_by("rank", "op_idx").agg(kernels=pl.len(), time_ns=pl.col("dur").sum(),
                                              mean_kernel_ns=pl.col("dur").mean()).collect(engine=ENGINE)
    # (only the ops that launched kernels: a join against every cpu_op builds a hash table of all of them,
    # +250 MB peak on the V100 trace x83's 2M ops)
    used = per_op_df["op_idx"].unique().implode()
    ops = ev.filter((pl.col("cat") == "cpu_op") & pl.col("idx").is_in(used)).select(
        "rank", op_idx="idx", op="name", shapes="shapes")
    per_op = per_op_df.lazy().join(ops, on=["rank", "op_idx"], how="left")
    sig = per_op.group_by("rank", "op", "shapes").agg(
        calls=pl.len(), kernels=pl.col("kernels").sum(), time_ns=pl.col("time_ns").sum(),
        mean_kernel_ns=(pl.col("mean_kernel_ns") * pl.col("kernels")).sum() / pl.col("kernels").sum(),
    ).with_columns(pl.col("op", "shapes").cast(pl.String)).collect(engine=ENGINE)  # (Categorical in analysis tables)
    uniq = sig.select("op", "shapes").unique()
    priced = [price(o, s) for o, s in uniq.iter_rows()]
    lut = uniq.with_columns(pl.DataFrame(priced, schema=PRICE_SCHEMA, orient="row"))
    out = sig.lazy().join(lut.lazy(), on=["op", "shapes"], how="left", nulls_equal=True)
    if gpu is None:
        return _ordered(out)
    bw = float(gpu.hbm_bw_GBps)
    peaks = {d: peak_tflops(gpu, d) for d in lut["math_dtype"].drop_nulls().unique().to_list()}
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
    return _ordered(out)


def sol_summary(sol: pl.DataFrame) -> dict[str, float]:
    """Covered share of op kernel time (ops whose shapes and formula give a price; the rest are unpriced,
    by reason), total SOL time over covered time."""
    total = float(sol["time_ns"].sum() or 0)
    cov = sol.filter("covered")
    ct = float(cov["time_ns"].sum() or 0)
    out = {"op_kernel_ns": total, "covered_ns": ct, "covered_frac": ct / total if total else math.nan}
    for why in (NO_SHAPES, UNRECORDED, NO_FORMULA):
        out[f"unpriced_{why.replace(' ', '_')}_ns"] = float(sol.filter(pl.col("unpriced") == why)["time_ns"].sum() or 0)
    if "sol_ns" in sol.columns:
        s = float(cov["sol_ns"].sum() or 0)
        out.update(sol_ns=s, sol_frac=s / ct if ct else math.nan)
    return out
