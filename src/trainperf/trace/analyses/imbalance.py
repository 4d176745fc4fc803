"""Stragglers and imbalance across ranks. In a synchronous data-parallel step every rank waits in its
collectives for the slowest one, so the rank with the most compute (or the longest step) is the
straggler and the others show it as extra communication time. docs/analyses/imbalance.md."""

from __future__ import annotations

import polars as pl

from trainperf.trace.analyses.temporal import ALL_STEPS


def rank_imbalance(temporal: pl.DataFrame) -> pl.DataFrame:
    """From a temporal breakdown: per rank, mean per-step window/compute/communication/idle (ns; the
    whole-trace row when the trace has no ProfilerSteps), compute relative to the mean rank
    (``compute_vs_mean``), and ``straggler`` (the rank with the most compute, when ranks differ by more
    than 5%; 5% is the run-to-run noise of one step we treat as balanced)."""
    has_steps = temporal.filter(pl.col("step") != ALL_STEPS)
    t = has_steps if has_steps.height else temporal
    per = t.group_by("rank").agg(
        steps=pl.len(), window_ns=pl.col("window").mean(), compute_ns=pl.col("compute").mean(),
        communication_ns=pl.col("communication").mean(), idle_ns=pl.col("idle").mean())
    lo, hi, mean = per.select(lo=pl.col("compute_ns").min(), hi=pl.col("compute_ns").max(),
                              mean=pl.col("compute_ns").mean()).row(0)
    mean_c = float(mean or 0.0)
    per = per.with_columns(compute_vs_mean=pl.col("compute_ns") / mean_c if mean_c else pl.lit(None))
    spread = (hi - lo) / mean_c if per.height > 1 and mean_c else 0.0
    top = per.sort(["compute_ns", "rank"], descending=[True, False])["rank"][0] if per.height else None
    return per.with_columns(straggler=(pl.col("rank") == top) & pl.lit(spread > 0.05)).sort("rank")
