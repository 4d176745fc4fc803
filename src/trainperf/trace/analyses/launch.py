"""Kernel launch statistics: how long the CPU spends in launch calls, how long launched work waits
before it starts on the GPU (launch delay = GPU start - launch call start), and how much GPU time goes
to short kernels, whose fixed launch cost dominates. docs/analyses/launch.md."""

from __future__ import annotations

import polars as pl

from trainperf.trace import common
from trainperf.trace.engine import ENGINE

SHORT_KERNEL_NS = common.SHORT_KERNEL_NS  # (why 10 us: trace/common.py)


def launch_stats(events: pl.DataFrame, *, short_ns: int = SHORT_KERNEL_NS) -> pl.DataFrame:
    """Per rank: kernels, kernels_per_step, launch call mean duration, launch delay p50/p90, short
    kernels (count, share of kernels, share of GPU kernel time), and cpu_launch_ns (CPU time in launch
    calls) vs gpu_busy_ns (sum of kernel time)."""
    ev = events.lazy()
    g = ev.filter("gpu").select("rank", "step", "ts", "dur", "launch_idx", "launch_ts")
    rt = ev.select("rank", "idx", "dur").join(g.select("rank", idx="launch_idx").drop_nulls().unique(),
                                              on=["rank", "idx"], how="semi")
    k = g.with_columns(delay=(pl.col("ts") - pl.col("launch_ts")), short=pl.col("dur") < short_ns)
    out = k.group_by("rank").agg(
        kernels=pl.len(),
        delay_p50_ns=pl.col("delay").median(),
        delay_p90_ns=pl.col("delay").quantile(0.9, "nearest"),
        short_kernels=pl.col("short").sum(),
        short_share=pl.col("short").mean(),
        short_time_share=(pl.col("dur").filter("short").sum() / pl.col("dur").sum()),
        gpu_busy_ns=pl.col("dur").sum(),
        mean_kernel_ns=pl.col("dur").mean(),
        n_steps=pl.col("step").drop_nulls().n_unique().clip(lower_bound=1),
    )
    cpu = rt.group_by("rank").agg(launch_calls=pl.len(), cpu_launch_ns=pl.col("dur").sum(),
                                  launch_call_mean_ns=pl.col("dur").mean())
    out = out.join(cpu, on="rank", how="left")
    cols = ["rank", "kernels", "delay_p50_ns", "delay_p90_ns", "short_kernels", "short_share", "short_time_share",
            "gpu_busy_ns", "mean_kernel_ns", "launch_calls", "cpu_launch_ns", "launch_call_mean_ns", "n_steps"]
    return (out.select(cols).with_columns(kernels_per_step=pl.col("kernels") / pl.col("n_steps")).sort("rank")
            .collect(engine=ENGINE))
