"""Host (CPU) side of a step: where the CPU time of the profiled thread(s) goes, op by op, and how much of
the step the framework spends between ops. The analyses a CPU-only profile gets (it has no GPU
timeline), and the host half of a GPU one.

Self time of an op = its duration less that of the cpu_ops nested directly inside it on the same thread
(the profiler's "Self CPU" of ``key_averages()``, torch/autograd/profiler_util.py): ``aten::linear``
and its ``aten::addmm`` child are not both counted. Per step when the trace has ProfilerStep spans
(the ops inside them, divided by their number), else over the whole trace. docs/analyses/host.md.
"""

from __future__ import annotations

import polars as pl

from trainperf.trace.common import RUNTIME_CATS, self_times
from trainperf.trace.engine import ENGINE
from trainperf.trace.schema import starts_with

# Kineto's CPU categories of framework work: ops, and the runtime calls that launch GPU work.
_OPS = pl.col("cat") == "cpu_op"


def _ops(events: pl.DataFrame) -> pl.DataFrame:
    # sorted here (by thread, start, longest first) rather than in Python: a third of the time on 40k ops
    ops = (events.lazy().filter(_OPS & (pl.col("ph") == "X"))
           .select("rank", "idx", "name", "pid", "tid", "ts", "dur", "step")
           .sort(["rank", "pid", "tid", "ts", "dur", "idx"], descending=[False, False, False, False, True, False],
                 nulls_last=True)
           .with_columns(thread=pl.struct("rank", "pid", "tid").rank("dense")).collect(engine=ENGINE))
    own, top = self_times(ops["thread"].to_list(), ops["ts"].to_list(), ops["dur"].to_list(), presorted=True)
    return ops.drop("thread").with_columns(self_ns=pl.Series(own, dtype=pl.Int64), top=pl.Series(top, dtype=pl.Boolean))


def _scope(ops: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The ops counted per rank (those inside a ProfilerStep when the rank has any) and the divisor
    (its number of steps, else 1)."""
    n = ops.group_by("rank").agg(steps=pl.col("step").drop_nulls().n_unique())
    kept = ops.join(n, on="rank").filter((pl.col("steps") == 0) | pl.col("step").is_not_null())
    return kept, n.with_columns(per=pl.col("steps").clip(lower_bound=1))


def host_tables(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(host_summary, host_ops), the self times computed once for both."""
    ops = _ops(events)
    return host_summary(events, ops), host_ops(events, ops)


def host_ops(events: pl.DataFrame, ops_: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per (rank, op name): calls, self_ns and total_ns (inclusive) over the scope, calls_per_step,
    self_per_step_ns and share (of the rank's op self time); most self time first."""
    ops, n = _scope((_ops(events) if ops_ is None else ops_).lazy())
    out = (ops.group_by("rank", "name").agg(calls=pl.len(), self_ns=pl.col("self_ns").sum(),
                                             total_ns=pl.col("dur").sum()).join(n, on="rank")
           .with_columns(pl.col("name").cast(pl.String)))  # (Categorical in the analysis table)
    return (out.with_columns(calls_per_step=pl.col("calls") / pl.col("per"),
                             self_per_step_ns=pl.col("self_ns") / pl.col("per"),
                             share=pl.col("self_ns") / pl.col("self_ns").sum().over("rank"))
            .drop("per").sort(["rank", "self_ns", "name"], descending=[False, True, False], nulls_last=True)
            .collect(engine=ENGINE))


def host_summary(events: pl.DataFrame, ops_: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per rank: steps (0: no ProfilerStep, whole trace), window_ns (mean step span, else the span of the
    ops), ops_per_step, in_ops_ns (time the busiest thread spends inside top-level ops), outside_ops_ns
    (the rest of the window: Python and framework code between ops), op_self_median_ns (the median op's
    own cost: dispatch, plus its CPU kernel on a CPU run), launch_calls and launch_ns (runtime calls that
    launch GPU work) per step."""
    ev = events.lazy()
    ops, n = _scope((_ops(events) if ops_ is None else ops_).lazy())
    steps = (ev.filter(starts_with(events, "name", "ProfilerStep#") & (pl.col("ph") == "X"))
             .group_by("rank").agg(step_ns=pl.col("dur").mean()))
    span = ops.group_by("rank").agg(span_ns=(pl.col("ts") + pl.col("dur")).max() - pl.col("ts").min())
    busiest = (ops.filter("top").group_by("rank", "pid", "tid").agg(t=pl.col("dur").sum())
               .sort(["rank", "t", "pid", "tid"], descending=[False, True, False, False], nulls_last=True)
               .group_by("rank", maintain_order=True).agg(in_ops=pl.col("t").first()))
    per_rank = ops.group_by("rank").agg(ops=pl.len(), op_self_median_ns=pl.col("self_ns").median())
    rt = (ev.filter(pl.col("cat").is_in(RUNTIME_CATS) & (pl.col("ph") == "X"))
          .join(n.select("rank", "steps"), on="rank")
          .filter((pl.col("steps") == 0) | pl.col("step").is_not_null())
          .group_by("rank").agg(launch_calls=pl.len(), launch_ns=pl.col("dur").sum()))
    out = (n.join(per_rank, on="rank").join(span, on="rank").join(busiest, on="rank", how="left")
           .join(steps, on="rank", how="left").join(rt, on="rank", how="left"))
    per = pl.col("per")
    window = pl.when(pl.col("steps") > 0).then(pl.col("step_ns")).otherwise(pl.col("span_ns").cast(pl.Float64))
    in_ops = (pl.col("in_ops").fill_null(0) / per).clip(upper_bound=window)
    return (out.select("rank", "steps", window_ns=window, ops_per_step=pl.col("ops") / per, in_ops_ns=in_ops,
                       outside_ops_ns=window - in_ops, op_self_median_ns=pl.col("op_self_median_ns").cast(pl.Float64),
                       launch_calls_per_step=pl.col("launch_calls").fill_null(0) / per,
                       launch_ns_per_step=pl.col("launch_ns").fill_null(0) / per)
            .sort("rank").collect(engine=ENGINE))
