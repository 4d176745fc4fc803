"""Temporal breakdown: how each rank's GPU time splits into compute, exposed communication, exposed
memcpy/memset and idle, per ProfilerStep and over the whole trace; idle split by cause.

Layered, so the parts add up to the window: compute = time any compute kernel runs; communication = time
a collective runs and no compute kernel does; copy = time only memcpy/memset run; idle = no GPU work.
Idle gaps are split into *host-bound* (the next GPU work was not yet launched when the GPU went idle:
the CPU is the bottleneck), *synchronization* (that host-bound stretch overlaps a CPU synchronize call
that drained the GPU queue: ``.item()``, ``.cpu()``, ``torch.cuda.synchronize``) and *other* (work was
queued but waited: launch latency, cross-stream dependencies). docs/analyses/temporal.md.
"""

from __future__ import annotations

import polars as pl

from trainperf.trace.analyses._intervals import gaps, union_len
from trainperf.vocab import OpCategory

ALL_STEPS = -1  # the step value of the whole-trace row
_SYNC = r"(?i)synchronize|cudaMemcpy$|hipMemcpy$"


def _gpu(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter("gpu").select("rank", "step", "category", "launch_ts", s="ts",
                                       e=pl.col("ts") + pl.col("dur"))


def windows(events: pl.DataFrame, by_step: bool = True) -> pl.DataFrame:
    """(rank, step, w0, w1): the GPU window of each step (first GPU start to last GPU end of the work the
    step launched) and of the whole trace (step = -1)."""
    g = _gpu(events)
    whole = g.group_by("rank").agg(step=pl.lit(ALL_STEPS, pl.Int32), w0=pl.col("s").min(), w1=pl.col("e").max())
    if not by_step:
        return whole.sort("rank")
    per = (g.drop_nulls("step").group_by("rank", "step").agg(w0=pl.col("s").min(), w1=pl.col("e").max()))
    return pl.concat([whole.select("rank", "step", "w0", "w1"), per.select("rank", "step", "w0", "w1")]
                     ).sort("rank", "step")


def _clip(g: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Each GPU interval clipped to every window it overlaps. Intervals are sorted by start, so a
    window's candidates are one slice (starts in [w0 - longest interval, w1)): memory stays linear in
    the events, unlike a join of events x windows."""
    parts = []
    for (rank,), part in g.drop("step").sort("rank", "s").partition_by("rank", as_dict=True).items():
        starts = part["s"]
        longest = int(part.select((pl.col("e") - pl.col("s")).max()).item() or 0)
        for step, w0, w1 in w.filter(pl.col("rank") == rank).select("step", "w0", "w1").iter_rows():
            lo = int(starts.search_sorted(w0 - longest, "left"))
            hi = int(starts.search_sorted(w1, "left"))
            sl = part.slice(lo, hi - lo).filter(pl.col("e") > w0)
            parts.append(sl.with_columns(step=pl.lit(step, pl.Int32), w0=pl.lit(w0), w1=pl.lit(w1)))
    if not parts:
        return g.with_columns(w0=pl.lit(0, pl.Int64), w1=pl.lit(0, pl.Int64)).clear()
    j = pl.concat(parts)
    return j.with_columns(s=pl.max_horizontal("s", "w0"), e=pl.min_horizontal("e", "w1"))


def temporal_breakdown(events: pl.DataFrame, *, by_step: bool = True) -> pl.DataFrame:
    """Per (rank, step) rows, step -1 = the whole trace. Columns in ns: window, compute, communication,
    copy, idle, idle_host, idle_sync, idle_other; and each as a fraction of the window (``*_frac``)."""
    w = windows(events, by_step)
    by = ["rank", "step"]
    cols = ["window", "compute", "communication", "copy", "idle", "idle_host", "idle_sync", "idle_other"]
    if w.height == 0:
        return pl.DataFrame(schema={"rank": pl.Int32, "step": pl.Int32, **{c: pl.Int64 for c in cols},
                                    **{f"{c}_frac": pl.Float64 for c in cols[1:]}})
    g = _clip(_gpu(events), w)
    comm, copy = OpCategory.COMMUNICATION.value, OpCategory.COPY.value
    is_comp = ~pl.col("category").is_in([comm, copy])
    u_comp = union_len(g.filter(is_comp), by, "u_comp")
    u_cc = union_len(g.filter(pl.col("category") != copy), by, "u_cc")
    u_all = union_len(g, by, "u_all")
    out = w.with_columns(window=pl.col("w1") - pl.col("w0"))
    for t in (u_comp, u_cc, u_all):
        out = out.join(t, on=by, how="left")
    out = out.fill_null(0).with_columns(
        compute=pl.col("u_comp"), communication=pl.col("u_cc") - pl.col("u_comp"),
        copy=pl.col("u_all") - pl.col("u_cc"), idle=pl.col("window") - pl.col("u_all"))
    idle = _idle_causes(events, g, w, by)
    out = out.join(idle, on=by, how="left").fill_null(0)
    out = out.with_columns(idle_other=pl.col("idle") - pl.col("idle_host") - pl.col("idle_sync"))
    out = out.select(*by, *cols).with_columns(
        [(pl.col(c) / pl.col("window")).fill_nan(0.0).alias(f"{c}_frac") for c in cols[1:]])
    return out.sort(by)


def _idle_causes(events: pl.DataFrame, g: pl.DataFrame, w: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    gp = gaps(g.select(*by, "s", "e"), w.select(*by, "w0", "w1"), by)
    if gp.height == 0:
        return pl.DataFrame(schema={"rank": pl.Int32, "step": pl.Int32, "idle_host": pl.Int64,
                                    "idle_sync": pl.Int64})
    # the GPU work that ends each gap, and when the CPU started launching it
    nxt = g.select("rank", "s", launch=pl.coalesce("launch_ts", "s")).sort("rank", "s").unique(
        ["rank", "s"], keep="first").sort("s")
    gp = gp.sort("rank", "g1").join_asof(nxt.sort("rank", "s"), left_on="g1", right_on="s", by="rank",
                                       strategy="forward", check_sortedness=False)
    gp = gp.with_columns(h1=pl.min_horizontal(pl.max_horizontal("launch", "g0"), "g1").fill_null(pl.col("g0")))
    # CPU synchronize calls overlapping the host-bound part of each gap
    sync = (events.filter(pl.col("cat").is_in(["cuda_runtime", "cuda_driver", "cuda_sync"])
                          & (pl.col("name").str.contains(_SYNC) | (pl.col("cat") == "cuda_sync")))
            .select("rank", ss="ts", se=pl.col("ts") + pl.col("dur")).sort("se"))
    gp = gp.sort("rank", "g0").join_asof(sync.sort("rank", "se"), left_on="g0", right_on="se", by="rank",
                                       strategy="forward", check_sortedness=False)
    synced = (pl.col("ss") < pl.col("h1")).fill_null(False)
    host = pl.col("h1") - pl.col("g0")
    gp = gp.with_columns(idle_sync=pl.when(synced).then(host).otherwise(0),
                         idle_host=pl.when(synced).then(0).otherwise(host))
    return gp.group_by(by).agg(pl.col("idle_host").sum(), pl.col("idle_sync").sum())
