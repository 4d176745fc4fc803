"""Communication/computation overlap per rank: how much collective time is hidden under compute
kernels. overlapped = |comm ∩ compute| = |comm| + |compute| - |comm ∪ compute| (unions over all
streams); exposed = |comm| - overlapped. docs/analyses/overlap.md."""

from __future__ import annotations

import polars as pl

from trainperf.trace.analyses._intervals import union_len_lazy
from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory


def comm_overlap(events: pl.DataFrame) -> pl.DataFrame:
    """Per rank: comm_ns, compute_ns, overlapped_ns, exposed_ns (ns) and overlap (fraction of comm time
    that runs under compute; null on ranks without collectives)."""
    comm, copy = OpCategory.COMMUNICATION.value, OpCategory.COPY.value
    g = events.lazy().filter("gpu").select("rank", "category", s="ts", e=pl.col("ts") + pl.col("dur"))
    c = union_len_lazy(g.filter(pl.col("category") == comm), ["rank"], "comm_ns")
    k = union_len_lazy(g.filter(~pl.col("category").is_in([comm, copy])), ["rank"], "compute_ns")
    both = union_len_lazy(g.filter(pl.col("category") != copy), ["rank"], "union_ns")
    out = g.select("rank").unique()
    for t in (c, k, both):
        out = out.join(t, on="rank", how="left")
    out = out.fill_null(0).with_columns(overlapped_ns=pl.col("comm_ns") + pl.col("compute_ns") - pl.col("union_ns"))
    return out.with_columns(
        exposed_ns=pl.col("comm_ns") - pl.col("overlapped_ns"),
        overlap=pl.when(pl.col("comm_ns") > 0).then(pl.col("overlapped_ns") / pl.col("comm_ns")),
    ).drop("union_ns").sort("rank").collect(engine=ENGINE)
