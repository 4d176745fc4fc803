"""Kernel breakdown: GPU time by kernel category (vocab.OpCategory) and the top kernels by time.
Sums of kernel durations (not unions): two kernels on two streams both count. docs/analyses/kernels.md."""

from __future__ import annotations

import polars as pl

from trainperf.trace.engine import ENGINE


def _steps(g: pl.LazyFrame) -> pl.LazyFrame:
    """Number of ProfilerSteps seen per rank (at least 1), to report per-step times."""
    n = g.group_by("rank").agg(n_steps=pl.col("step").drop_nulls().n_unique())
    return n.with_columns(pl.col("n_steps").clip(lower_bound=1))


def kernel_breakdown(events: pl.DataFrame) -> pl.DataFrame:
    """Per (rank, category): count, time_ns (sum of durations), n_steps, time_per_step_ns, count_per_step,
    share of the rank's GPU kernel time. Sorted by rank, then time descending."""
    g = events.lazy().filter("gpu").select("rank", "step", "category", "dur")
    out = (g.group_by("rank", "category").agg(count=pl.len(), time_ns=pl.col("dur").sum())
           .join(_steps(g), on="rank", how="left").with_columns(pl.col("category").cast(pl.String)))
    return (out.with_columns(time_per_step_ns=pl.col("time_ns") / pl.col("n_steps"),
                             count_per_step=pl.col("count") / pl.col("n_steps"),
                             share=pl.col("time_ns") / pl.col("time_ns").sum().over("rank"))
            .sort(["rank", "time_ns", "category"], descending=[False, True, False]).collect(engine=ENGINE))


def top_kernels(events: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """The ``n`` kernels (by name, over all ranks) with the most GPU time: count, total, mean, median,
    max, share of all kernel time, category, and how many ranks ran it."""
    g = events.lazy().filter("gpu").select("rank", "name", "category", "dur")
    out = g.group_by("name", "category").agg(
        count=pl.len(), time_ns=pl.col("dur").sum(), mean_ns=pl.col("dur").mean(),
        median_ns=pl.col("dur").median(), max_ns=pl.col("dur").max(), ranks=pl.col("rank").n_unique(),
    ).with_columns(pl.col("name", "category").cast(pl.String))  # (Categorical in the Events tables)
    # share of all kernel time; 1 when there is none (no division by zero)
    total = pl.col("time_ns").sum()
    share = pl.col("time_ns") / pl.when(total > 0).then(total).otherwise(1)
    # (a full tie-break: which kernel is n-th must not change from run to run)
    return (out.with_columns(share=share).sort(["time_ns", "name", "category"], descending=[True, False, False],
                                               nulls_last=True).head(n).collect(engine=ENGINE))
