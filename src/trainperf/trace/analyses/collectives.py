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

from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory

# NCCL's element type names (ncclDataType_t as the profiler prints them) -> bytes per element.
NCCL_DTYPE_BYTES = {
    "Float": 4, "Float32": 4, "Half": 2, "Float16": 2, "BFloat16": 2, "Double": 8, "Float64": 8,
    "Int": 4, "Int32": 4, "Long": 8, "Int64": 8, "Char": 1, "Int8": 1, "Byte": 1, "Uint8": 1, "Bool": 1,
    "Float8e4m3": 1, "Float8e5m2": 1, "Float8_e4m3fn": 1, "Float8_e5m2": 1,
}

_KINDS = (("allreduce", r"(?i)all_?reduce"), ("allgather", r"(?i)all_?gather"),
          ("reducescatter", r"(?i)reduce_?scatter"), ("alltoall", r"(?i)all_?to_?all"),
          ("broadcast", r"(?i)broadcast|bcast"), ("reduce", r"(?i)reduce"), ("sendrecv", r"(?i)send|recv"))


def _kind_from(col: str) -> pl.Expr:
    expr: Any = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for k, p in _KINDS:
        expr = expr.when(pl.col(col).str.contains(p)).then(pl.lit(k))
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
        out_nelems=pl.coalesce("out_nelems", "o_out"), group_size=pl.coalesce("group_size", "o_gs"),
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


def collectives(events: pl.DataFrame) -> pl.DataFrame:
    """Per (rank, kind): count, time_ns, bytes, mean message bytes, achieved algbw and busbw (GB/s,
    time-weighted over the calls whose size is known)."""
    known = pl.col("bytes").is_not_null()
    out = _calls(events).group_by("rank", "kind").agg(
        count=pl.len(), time_ns=pl.col("dur").sum(),
        bytes=pl.when(known.any()).then(pl.col("bytes").sum()),
        sized=known.sum(),
        mean_msg_bytes=pl.col("bytes").mean(),
        algbw_GBps=pl.col("bytes").filter(known).sum() / pl.col("dur").filter(known).sum(),
        busbw_GBps=(pl.col("busbw_GBps") * pl.col("dur")).filter(known).sum() / pl.col("dur").filter(known).sum(),
        group_size=pl.col("group_size").max(),
    )
    out = out.with_columns(pl.col("algbw_GBps", "busbw_GBps").fill_nan(None))
    return out.sort(["rank", "time_ns"], descending=[False, True]).collect(engine=ENGINE)
