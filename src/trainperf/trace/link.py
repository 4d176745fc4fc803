"""The Events table's derived columns of one file: gpu, stream and device of GPU events, kernel category,
the launching runtime call (``correlation``) and its cpu_op (``External id``), and the ProfilerStep.

A fixed handful of polars queries per file (each costs 0.1-0.5 ms however small): the GPU rows' links are
computed on the GPU rows alone and scattered into full columns by row number (a join would copy every
column of the table), and each event finds its step by a binary search over the few step spans (no sort
of the table).
"""

from __future__ import annotations

import polars as pl

from trainperf.trace.classify import kernel_category
from trainperf.trace.engine import ENGINE
from trainperf.trace.schema import RUNTIME_CATS

_LINKS = {"category": pl.Categorical, "launch_idx": pl.Int32, "launch_ts": pl.Int64, "op_idx": pl.Int32}
_STEP = pl.col("name").str.starts_with("ProfilerStep#") & (pl.col("ph") == "X")


def link_parts(batch: pl.DataFrame) -> list[pl.DataFrame]:
    """The rows of one converted batch (with its idx: the file's row numbers) that linking needs: GPU
    events, runtime calls, cpu_ops with an External id, ProfilerStep spans. Taken per batch, on the
    converting thread, so that link() never scans the whole table."""
    lf = batch.lazy()
    return pl.collect_all([
        # (name Categorical: the texts of the distinct kernels once, not of every GPU event until link())
        lf.filter("gpu").select("idx", pl.col("name").cast(pl.Categorical), "cat", "correlation"),
        lf.filter(pl.col("cat").is_in(RUNTIME_CATS) & pl.col("correlation").is_not_null())
        .select("correlation", launch_idx="idx", launch_ts="ts", rt_ext="external_id"),
        lf.filter((pl.col("cat") == "cpu_op") & pl.col("external_id").is_not_null())
        .select(rt_ext="external_id", op_idx="idx"),
        # (a step number beyond int32 becomes null: that span is no step, and read_file counts it)
        lf.filter(_STEP).select(step=pl.col("name").str.extract(r"#(\d+)").cast(pl.Int32, strict=False), s="ts",
                                e=pl.col("ts") + pl.col("dur"), bad=pl.col("name").str.contains(r"#\d")),
    ], engine=ENGINE)


def link(df: pl.DataFrame, parts: list[list[pl.DataFrame]], shift: int = 0) -> pl.DataFrame:
    """``df`` (one file's typed columns with idx, in file order, all rows or the analysis rows: every row
    a link points at is there; ``parts``: link_parts of its batches, whose times still lack ``shift``,
    emptied once used) with category, launch_idx, launch_ts, op_idx and step added."""
    gpu_df, rt_df, ops_df, steps_df = (pl.concat([p[i] for p in parts]) for i in range(4))
    gpu, steps = gpu_df.lazy(), steps_df.lazy()
    # Older Kineto writes a runtime call's own correlation id as its External id, a number from another id
    # space than the cpu_ops': matching it to cpu_op External ids links kernels to unrelated ops. A file where
    # (nearly) every call has External id == correlation (over the first call of each) is of that kind; its
    # calls link by time instead.
    first = pl.col("correlation").is_first_distinct()
    own_id = bool(rt_df.select((pl.col("rt_ext") == pl.col("correlation")).filter(first).mean() > 0.9).item())
    # the first runtime call of each correlation id, the last cpu_op of each External id (row order), of
    # the ids the GPU rows use: unique() over every call and op would cost hash tables of millions of rows
    # (+340 MB peak on the V100 trace x83, 3.3M calls and ops)
    calls = rt_df.lazy().filter(pl.col("correlation").is_in(gpu_df["correlation"].drop_nulls().unique().implode()))
    calls = calls.unique("correlation", keep="first", maintain_order=True)
    if shift:
        calls = calls.with_columns(pl.col("launch_ts") + shift)
        steps = steps.with_columns(pl.col("s", "e") + shift)
    if own_id:
        calls = calls.with_columns(rt_ext=pl.lit(None, pl.Int64))
    rt = calls.collect(engine=ENGINE)
    ops = ops_df.lazy().filter(pl.col("rt_ext").is_in(rt["rt_ext"].drop_nulls().unique().implode()))
    ops = ops.unique("rt_ext", keep="last", maintain_order=True)
    q = gpu.join(rt.lazy(), on="correlation", how="left").join(ops, on="rt_ext", how="left")
    # one span per step number (the first in file order, whichever order unique() meets them in), by start
    steps = steps.drop_nulls("step").unique("step", keep="first", maintain_order=True).sort("s", "step")
    found, steps_df = pl.collect_all([q, steps.select("step", "s", "e")], engine=ENGINE)
    del gpu_df, rt_df, ops_df, gpu, calls, rt, ops, q, steps
    parts.clear()  # (freed before the full columns below are built)
    found = _link_by_time(df, found)
    found = found.with_columns(category=_category(found))
    # scatter the GPU rows' links into full columns at their rows (a join would copy the table); idx is
    # sorted, and the row number itself unless flows were left out
    n = df.height
    at = found["idx"] if n == 0 or df["idx"][-1] == n - 1 else df["idx"].search_sorted(found["idx"])
    lengths = df["idx"].chunk_lengths()
    cols = [chunked(pl.repeat(None, n, dtype=t, eager=True).alias(c).scatter(at, found[c]), lengths)
            for c, t in _LINKS.items()]
    # (eager: a lazy query over the file's table of many chunks would first copy it into one chunk, +10 MB
    # on a 25 MB trace)
    out = df.with_columns(*cols)
    # the step chunk by chunk: over the whole table each intermediate of the search is a full column
    if steps_df.height == 0 or n == 0:
        return out.with_columns(chunked(pl.repeat(None, n, dtype=pl.Int32, eager=True).alias("step"), lengths))
    step = [out.slice(o, k).select(_step(steps_df).alias("step")).to_series()
            for o, k in zip(_starts(lengths), lengths, strict=True)]
    return out.with_columns(pl.concat(step, rechunk=False))


def _starts(lengths: list[int]) -> list[int]:
    out, o = [], 0
    for k in lengths:
        out.append(o)
        o += k
    return out


def chunked(s: pl.Series, lengths: list[int]) -> pl.Series:
    """``s`` cut into chunks of ``lengths`` (zero-copy slices): a column chunked unlike the others makes
    the next operation on the table copy every column into one chunk (+270 MB on the V100 trace x83)."""
    if len(lengths) < 2:
        return s
    return pl.concat([s.slice(o, k) for o, k in zip(_starts(lengths), lengths, strict=True)], rechunk=False)


def _category(links: pl.DataFrame) -> pl.Expr:
    """Category of each GPU row (classify.kernel_category): memcpy/memset are copies, kernels go by name,
    and the name rules run once per distinct name."""
    names = links.filter(pl.col("cat") == "kernel")["name"].drop_nulls().unique()
    lut = {n: kernel_category(n).value for n in names}
    copy = kernel_category("", "gpu_memcpy").value
    return (pl.when(pl.col("cat").is_in(["gpu_memcpy", "gpu_memset"])).then(pl.lit(copy))
            .otherwise(pl.col("name").replace_strict(lut, default=None, return_dtype=pl.String)
                       .fill_null(pl.lit(kernel_category("").value))).cast(pl.Categorical))


def _step(steps: pl.DataFrame) -> pl.Expr:
    """The ProfilerStep whose span [s, e) holds the event's key time (GPU events: their launch call's start):
    the latest-starting step at or before it, by binary search over the step spans sorted by start."""
    key = pl.when("gpu").then(pl.coalesce("launch_ts", "ts")).otherwise("ts")
    pos = pl.lit(steps["s"]).search_sorted(key, side="right").cast(pl.Int64) - 1
    at = pos.clip(lower_bound=0)
    inside = (pos >= 0) & (key < pl.lit(steps["e"]).gather(at))
    return pl.when(inside).then(pl.lit(steps["step"]).gather(at))


def _link_by_time(df: pl.DataFrame, gpu: pl.DataFrame) -> pl.DataFrame:
    """Older Kineto writes the correlation id as the runtime call's External id: link those calls to the
    innermost cpu_op on the same thread whose span holds them (the latest-starting op before the call)."""
    todo = gpu.filter(pl.col("op_idx").is_null() & pl.col("launch_idx").is_not_null())
    if todo.height == 0:
        return gpu
    rows = df.lazy()
    calls = rows.join(todo.lazy().select(idx="launch_idx"), on="idx", how="semi").select(
        launch_idx="idx", pid="pid", tid="tid", t="ts").drop_nulls(["pid", "tid"])
    cpu = (rows.filter((pl.col("cat") == "cpu_op") & (pl.col("ph") == "X")).drop_nulls(["pid", "tid"])
           .select("pid", "tid", t="ts", op_end=pl.col("ts") + pl.col("dur"), op2="idx"))
    # (ops starting together: the one later in the file, the inner one, whatever order the sort leaves them in)
    hit = (calls.sort("pid", "tid", "t").join_asof(cpu.sort("pid", "tid", "t", "op2"), on="t", by=["pid", "tid"],
                                                 strategy="backward", check_sortedness=False)
           .filter(pl.col("t") < pl.col("op_end")).select("launch_idx", "op2"))
    return (gpu.lazy().join(hit, on="launch_idx", how="left").with_columns(op_idx=pl.coalesce("op_idx", "op2"))
            .drop("op2").collect(engine=ENGINE))
