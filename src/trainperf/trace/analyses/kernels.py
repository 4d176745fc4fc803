"""Kernel breakdown: GPU time by kernel category (vocab.OpCategory) and the top kernels by time.
Sums of kernel durations (not unions): two kernels on two streams both count. docs/analyses/kernels.md."""

from __future__ import annotations

import polars as pl


def _steps(events: pl.DataFrame) -> pl.DataFrame:
    """Number of ProfilerSteps seen per rank (at least 1), to report per-step times."""
    g = events.filter("gpu")
    n = g.group_by("rank").agg(n_steps=pl.col("step").drop_nulls().n_unique())
    return n.with_columns(pl.col("n_steps").clip(lower_bound=1))


def kernel_breakdown(events: pl.DataFrame) -> pl.DataFrame:
    """Per (rank, category): count, time_ns (sum of durations), time_per_step_ns, share of the rank's GPU
    kernel time. Sorted by rank, then time descending."""
    g = events.filter("gpu")
    out = (g.group_by("rank", "category").agg(count=pl.len(), time_ns=pl.col("dur").sum())
           .join(_steps(events), on="rank", how="left"))
    return (out.with_columns(time_per_step_ns=pl.col("time_ns") / pl.col("n_steps"),
                             share=pl.col("time_ns") / pl.col("time_ns").sum().over("rank"))
            .sort(["rank", "time_ns"], descending=[False, True]))


def top_kernels(events: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """The ``n`` kernels (by name, over all ranks) with the most GPU time: count, total, mean, median,
    max, share of all kernel time, category, and how many ranks ran it."""
    g = events.filter("gpu")
    total = g["dur"].sum() or 1
    out = g.group_by("name", "category").agg(
        count=pl.len(), time_ns=pl.col("dur").sum(), mean_ns=pl.col("dur").mean(),
        median_ns=pl.col("dur").median(), max_ns=pl.col("dur").max(), ranks=pl.col("rank").n_unique())
    return out.with_columns(share=pl.col("time_ns") / total).sort("time_ns", descending=True).head(n)
