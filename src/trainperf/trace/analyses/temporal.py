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

from trainperf.trace import common
from trainperf.trace.analyses._intervals import covered_lazy, in_windows_lazy, inner_gaps_lazy
from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory

ALL_STEPS = common.ALL_STEPS  # the step value of the whole-trace row
_SYNC = common.SYNC_NAME
_COLS = ["window", "compute", "communication", "copy", "idle", "idle_host", "idle_sync", "idle_other"]


def _gpu(events: pl.DataFrame) -> pl.DataFrame:
    return (events.lazy().filter("gpu")
            .select("rank", "step", "category", "launch_ts", s="ts", e=pl.col("ts") + pl.col("dur")).collect(engine=ENGINE))


def _windows(g: pl.LazyFrame, by_step: bool) -> pl.LazyFrame:
    whole = g.group_by("rank").agg(step=pl.lit(ALL_STEPS, pl.Int32), w0=pl.col("s").min(), w1=pl.col("e").max())
    if not by_step:
        return whole
    per = g.drop_nulls("step").group_by("rank", "step").agg(w0=pl.col("s").min(), w1=pl.col("e").max())
    return pl.concat([whole.select("rank", "step", "w0", "w1"), per.select("rank", "step", "w0", "w1")])


def windows(events: pl.DataFrame, by_step: bool = True) -> pl.DataFrame:
    """(rank, step, w0, w1): the GPU window of each step (first GPU start to last GPU end of the work the
    step launched) and of the whole trace (step = -1)."""
    return _windows(_gpu(events).lazy(), by_step).sort("rank", "step").collect(engine=ENGINE)


def temporal_breakdown(events: pl.DataFrame, *, by_step: bool = True) -> pl.DataFrame:
    """Per (rank, step) rows, step -1 = the whole trace. Columns in ns: window, compute, communication,
    copy, idle, idle_host, idle_sync, idle_other; and each as a fraction of the window (``*_frac``)."""
    by = ["rank", "step"]
    g = _gpu(events)
    if g.height == 0:
        return pl.DataFrame(schema={"rank": pl.Int32, "step": pl.Int32, **{c: pl.Int64 for c in _COLS},
                                    **{f"{c}_frac": pl.Float64 for c in _COLS[1:]}})
    gl = g.lazy()
    w = _windows(gl, by_step)
    comm, copy = OpCategory.COMMUNICATION.value, OpCategory.COPY.value
    # layered unions: compute, compute + communication, everything; each part is a difference of two
    u_comp = covered_lazy(gl.filter(~pl.col("category").is_in([comm, copy])), w, "u_comp")
    u_cc = covered_lazy(gl.filter(pl.col("category") != copy), w, "u_cc")
    u_all = covered_lazy(gl, w, "u_all")
    out = w.with_columns(window=pl.col("w1") - pl.col("w0"))
    for t in (u_comp, u_cc, u_all, _idle_causes(events, gl, w)):
        out = out.join(t, on=by, how="left")
    out = out.fill_null(0).with_columns(
        compute=pl.col("u_comp"), communication=pl.col("u_cc") - pl.col("u_comp"),
        copy=pl.col("u_all") - pl.col("u_cc"), idle=pl.col("window") - pl.col("u_all"))
    out = out.with_columns(idle_other=pl.col("idle") - pl.col("idle_host") - pl.col("idle_sync"))
    out = out.select(*by, *_COLS).with_columns(
        [(pl.col(c) / pl.col("window")).fill_nan(0.0).alias(f"{c}_frac") for c in _COLS[1:]])
    return out.sort(by).collect(engine=ENGINE)


def _idle_causes(events: pl.DataFrame, g: pl.LazyFrame, w: pl.LazyFrame) -> pl.LazyFrame:
    """(rank, step, idle_host, idle_sync) of each window. A window's idle gaps are the gaps between the
    rank's GPU work that start inside it (its edges are GPU work, so no gap crosses them); each gap is
    classified once, whichever windows hold it."""
    gp = inner_gaps_lazy(g.select("rank", "s", "e"))
    # the GPU work that ends each gap (starts at g1), and when the CPU started launching it (the earliest
    # launch of the work starting then: the GPU had queued work from that moment)
    nxt = g.group_by("rank", "s").agg(launch=pl.coalesce("launch_ts", "s").min())
    gp = gp.join(nxt, left_on=["rank", "g1"], right_on=["rank", "s"], how="left")
    gp = gp.with_columns(h1=pl.min_horizontal(pl.max_horizontal("launch", "g0"), "g1").fill_null(pl.col("g0")))
    # CPU synchronize calls overlapping the host-bound part of each gap
    # (the runtime rows first, in their own query: the name regex over every event's name would cost more
    # than the rest of this analysis, and polars would merge two filters of one query into one)
    rt = (events.lazy().filter(pl.col("cat").is_in(common.SYNC_CATS) & pl.col("ts").is_not_null())
          .select("rank", "cat", pl.col("name").cast(pl.String), ss="ts", se=pl.col("ts") + pl.col("dur"))
          .collect(engine=ENGINE))
    sync = rt.lazy().filter(pl.col("name").str.contains(_SYNC) | (pl.col("cat") == "cuda_sync")).select("rank", "ss", "se")
    # (forward: the first call ending at or after g0; among calls ending together the earliest-starting, so
    # that the answer does not depend on the sort's order of equal ends)
    gp = gp.sort("g0").join_asof(sync.sort("se", "ss"), left_on="g0", right_on="se", by="rank", strategy="forward",
                                 check_sortedness=False)
    synced = (pl.col("ss") < pl.col("h1")).fill_null(False)
    host = pl.col("h1") - pl.col("g0")
    gp = gp.select("rank", "g0", idle_sync=pl.when(synced).then(host).otherwise(0),
                   idle_host=pl.when(synced).then(0).otherwise(host))
    return in_windows_lazy(gp, w, ["idle_host", "idle_sync"])
