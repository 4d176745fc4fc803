"""Two traces compared (before/after, measured against simulated, or two ranks): per-step time by temporal
class, by rank, by kernel category and by kernel name, with the change. docs/analyses/compare.md."""

from __future__ import annotations

import polars as pl

from trainperf.trace.analyses.kernels import kernel_breakdown
from trainperf.trace.analyses.temporal import ALL_STEPS, temporal_breakdown


def _steps(events: pl.DataFrame) -> int:
    return max(1, events.filter("gpu")["step"].drop_nulls().n_unique())


def _delta(a: pl.DataFrame, b: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    j = a.join(b, on=key, how="full", coalesce=True, suffix="_b").fill_null(0)
    j = j.rename({"ns": "a_ns", "ns_b": "b_ns"})
    return j.with_columns(delta_ns=pl.col("b_ns") - pl.col("a_ns"),
                          delta_frac=pl.when(pl.col("a_ns") > 0).then((pl.col("b_ns") - pl.col("a_ns")) / pl.col("a_ns")))


def compare_temporal(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Mean per-step ns of window/compute/communication/copy/idle (over steps and ranks) in A and B."""
    cols = ["window", "compute", "communication", "copy", "idle", "idle_host", "idle_sync", "idle_other"]

    def mean(ev: pl.DataFrame) -> pl.DataFrame:
        t = temporal_breakdown(ev)
        s = t.filter(pl.col("step") != ALL_STEPS)
        s = s if s.height else t
        return s.select(pl.col(cols).mean()).unpivot(variable_name="part", value_name="ns")

    return _delta(mean(a), mean(b), ["part"])


def compare_ranks(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Per rank, mean per-step window / compute / communication / idle in A and B, largest change first:
    a measured run against a simulated one shows which ranks (pipeline stages) the prediction misses."""
    cols = ["window", "compute", "communication", "idle"]

    def per(ev: pl.DataFrame) -> pl.DataFrame:
        t = temporal_breakdown(ev)
        s = t.filter(pl.col("step") != ALL_STEPS)
        s = s if s.height else t
        m = s.group_by("rank").agg(pl.col(cols).mean()).unpivot(index="rank", variable_name="p", value_name="ns")
        return m.select(part=pl.format("rank {} {}", "rank", "p"), ns="ns")

    j = _delta(per(a), per(b), ["part"])
    return j.sort([pl.col("delta_ns").abs(), pl.col("part")], descending=[True, False])


def compare_categories(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Kernel time per step by category in A and B (summed over streams, mean over ranks)."""
    def per(ev: pl.DataFrame) -> pl.DataFrame:
        k = kernel_breakdown(ev)
        n = max(1, k["rank"].n_unique())
        return k.group_by("category").agg(ns=pl.col("time_per_step_ns").sum() / n)

    j = _delta(per(a), per(b), ["category"])
    return j.sort([pl.col("delta_ns").abs(), pl.col("category")], descending=[True, False])


def compare_kernels(a: pl.DataFrame, b: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """The ``n`` kernels whose time per step changed most (by name), with calls per step in A and B."""
    def per(ev: pl.DataFrame) -> pl.DataFrame:
        g = ev.filter("gpu")
        d = _steps(ev) * max(1, g["rank"].n_unique())
        return (g.group_by("name", "category").agg(ns=pl.col("dur").sum() / d, calls=pl.len() / d)
                .with_columns(pl.col("name", "category").cast(pl.String)))

    j = _delta(per(a), per(b), ["name", "category"]).rename({"calls": "a_calls", "calls_b": "b_calls"})
    return j.sort([pl.col("delta_ns").abs(), pl.col("name"), pl.col("category")], descending=[True, False, False],
                  nulls_last=True).head(n)
