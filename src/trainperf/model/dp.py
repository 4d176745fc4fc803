"""Per-GPU throughput of data-parallel training inside one node, from a single-GPU step estimate.

Each GPU runs the same micro-batch step; gradients are all-reduced (DDP) or reduce-scattered and parameters
all-gathered (ZeRO-3 / FSDP) over NVLink, overlapped with compute (NB: an assumption that holds for
single-node NVLink DP; the parallel planner models communication explicitly). Per micro-batch a GPU spends

    fwd + bwd (+ fwd again under full recompute, + the cheap fwd ops under selective recompute)
    + optimizer / (gradient-accumulation steps x optimizer shards)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trainperf.model.step import StepEstimate

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True, kw_only=True)
class DPThroughput:
    micro_step_s: float
    units_per_s: float
    """Tokens (or samples) per second per GPU."""
    model_tflops: float
    """Model TFLOP/s per GPU (the step's model FLOPs convention)."""


def dp_throughput(est: StepEstimate, *, grad_accum: int = 1, optimizer_shards: int = 1,
                  recompute: str = "none") -> DPThroughput:
    """Per-GPU throughput of `est`'s micro-batch under data parallelism (see module docstring)."""
    if grad_accum < 1 or optimizer_shards < 1:
        raise ValueError(f"grad_accum={grad_accum} and optimizer_shards={optimizer_shards} must be >= 1")
    if recompute not in RECOMPUTE:
        raise ValueError(f"recompute={recompute!r} must be one of {RECOMPUTE}")
    ph = est.ops.group_by("phase").agg(pl.col("time_s").sum())
    t = dict(zip(ph["phase"].to_list(), ph["time_s"].to_list(), strict=True))
    fwd, bwd, opt = t.get("fwd", 0.0), t.get("bwd", 0.0), t.get("optimizer", 0.0)
    micro = fwd + bwd + opt / (grad_accum * optimizer_shards)
    if recompute == "full":
        micro += fwd
    elif recompute == "selective":  # recompute the cheap ops, keep matmul/attention outputs
        cheap = est.ops.filter((pl.col("phase") == "fwd") & ~pl.col("category").is_in(["matmul", "attention"]))
        micro += float(cheap["time_s"].sum())
    units = est.units_per_step / micro if micro > 0 else 0.0
    per_unit = est.model_flops / max(est.units_per_step, 1)
    return DPThroughput(micro_step_s=micro, units_per_s=units, model_tflops=units * per_unit / 1e12)
