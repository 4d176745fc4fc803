"""Collectives by kind with message sizes and achieved bandwidth.

Kind and size come from the NCCL args Kineto records on the kernel (``Collective name``, ``In msg
nelems``, ``Group size``, ``dtype``), else from the launching op's args (``record_param_comms``), else
the kind from the kernel name (``ncclKernel_AllReduce_...``, ``ncclDevKernel_AllGather_...``) without a
size. Bus bandwidth follows nccl-tests' definition (github.com/NVIDIA/nccl-tests doc/PERFORMANCE.md):
busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather, reduce-scatter and all-to-all, x 1
for broadcast, reduce and send/recv; algbw = bytes / time. docs/analyses/collectives.md.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.trace import common
from trainperf.trace.analyses._intervals import union_len_lazy
from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory

NCCL_DTYPE_BYTES = common.NCCL_DTYPE_BYTES
_KINDS = common.COLLECTIVE_KINDS


def _kind_from(col: str) -> pl.Expr:
    expr: Any = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for k, p in _KINDS:
        expr = expr.when(pl.col(col).cast(pl.String).str.contains(p)).then(pl.lit(k))  # (Categorical too)
    return expr.otherwise(pl.lit("other"))


def _busbw_factor() -> pl.Expr:
    n = pl.col("group_size").cast(pl.Float64)
    return (pl.when(pl.col("kind") == "allreduce").then(2 * (n - 1) / n)
            .when(pl.col("kind").is_in(["allgather", "reducescatter", "alltoall"])).then((n - 1) / n)
            .otherwise(1.0))


def _calls(events: pl.DataFrame) -> pl.LazyFrame:
    ev = events.lazy()
    k = ev.filter(pl.col("gpu") & (pl.col("category") == OpCategory.COMMUNICATION.value)).select(
        "rank", "idx", "ts", "dur", "name", "op_idx", "collective", "in_nelems", "out_nelems", "group_size",
        "coll_dtype")
    ops = ev.filter(pl.col("collective").is_not_null() & ~pl.col("gpu")).select(
        "rank", op_idx="idx", o_coll="collective", o_in="in_nelems", o_out="out_nelems", o_gs="group_size",
        o_dt="coll_dtype")
    k = k.join(ops, on=["rank", "op_idx"], how="left").with_columns(
        collective=pl.coalesce("collective", "o_coll"), in_nelems=pl.coalesce("in_nelems", "o_in"),
        out_nelems=pl.coalesce("out_nelems", "o_out"),
        # (a group of fewer than one rank is no group: unknown, not a division by zero)
        group_size=pl.when(pl.coalesce("group_size", "o_gs") >= 1).then(pl.coalesce("group_size", "o_gs")),
        coll_dtype=pl.coalesce("coll_dtype", "o_dt"))
    k = k.with_columns(kind=pl.when(pl.col("collective").is_not_null()).then(_kind_from("collective"))
                       .otherwise(_kind_from("name")))
    esize = pl.col("coll_dtype").replace_strict(NCCL_DTYPE_BYTES, default=None, return_dtype=pl.Int64)
    # nccl-tests size convention: the larger of the input and output buffers (all-gather: the output).
    nel = pl.max_horizontal("in_nelems", "out_nelems")
    k = k.with_columns(bytes=nel * esize)
    algbw = pl.col("bytes") / pl.col("dur")  # bytes/ns == GB/s
    return k.select("rank", "idx", "ts", "dur", "name", "kind", "group_size", "bytes",
                    algbw_GBps=algbw, busbw_GBps=algbw * _busbw_factor())


def collective_calls(events: pl.DataFrame) -> pl.DataFrame:
    """One row per communication kernel: rank, idx, ts, dur, kind, group_size, bytes (null if unknown),
    algbw_GBps, busbw_GBps."""
    return _calls(events).collect(engine=ENGINE)


def _own_overlap(events: pl.DataFrame, calls: pl.LazyFrame) -> pl.LazyFrame:
    """Per (rank, kind): how much of that kind's own time runs under compute kernels, |K n C| = |K| + |C| -
    |K u C| (unions over all streams, as overlap.py does for all collectives of a rank together)."""
    comm, copy = OpCategory.COMMUNICATION.value, OpCategory.COPY.value
    k = calls.select("rank", "kind", s="ts", e=pl.col("ts") + pl.col("dur"))
    c = (events.lazy().filter(pl.col("gpu") & ~pl.col("category").is_in([comm, copy]))
         .select("rank", s="ts", e=pl.col("ts") + pl.col("dur")))
    kinds = k.select("rank", "kind").unique()
    kc = pl.concat([k, c.join(kinds, on="rank").select("rank", "kind", "s", "e")])
    by = ["rank", "kind"]
    j = (union_len_lazy(k, by, "k_ns").join(union_len_lazy(kc, by, "kc_ns"), on=by)
         .join(union_len_lazy(c, ["rank"], "c_ns"), on="rank", how="left").fill_null(0))
    ov = pl.col("k_ns") + pl.col("c_ns") - pl.col("kc_ns")
    return j.select(*by, overlapped_ns=ov, exposed_ns=pl.col("k_ns") - ov,
                    overlap=pl.when(pl.col("k_ns") > 0).then(ov / pl.col("k_ns")))


def collectives(events: pl.DataFrame) -> pl.DataFrame:
    """Per (rank, kind): count, time_ns, bytes, mean message bytes, achieved algbw and busbw (GB/s,
    time-weighted over the calls whose size is known), and the kind's own overlap with compute
    (overlapped_ns, exposed_ns, overlap: a fraction of the union of its calls)."""
    known = pl.col("bytes").is_not_null()
    calls = _calls(events)
    out = calls.group_by("rank", "kind").agg(
        count=pl.len(), time_ns=pl.col("dur").sum(),
        bytes=pl.when(known.any()).then(pl.col("bytes").sum()),
        sized=known.sum(),
        mean_msg_bytes=pl.col("bytes").mean(),
        algbw_GBps=pl.col("bytes").filter(known).sum() / pl.col("dur").filter(known).sum(),
        busbw_GBps=(pl.col("busbw_GBps") * pl.col("dur")).filter(known).sum() / pl.col("dur").filter(known).sum(),
        group_size=pl.col("group_size").max(),
    )
    out = out.with_columns(pl.col("algbw_GBps", "busbw_GBps").fill_nan(None))
    out = out.join(_own_overlap(events, calls), on=["rank", "kind"], how="left")
    return out.sort(["rank", "time_ns", "kind"], descending=[False, True, False]).collect(engine=ENGINE)
