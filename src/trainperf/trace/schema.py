"""The Events table: one row per trace event, every rank in one table. Declared once, here.

Times are integer nanoseconds. Chrome-trace ``ts``/``dur`` are microseconds (Kineto writes fractional
microseconds, i.e. nanosecond resolution); ``baseTimeNanoseconds``, when present, is added so that ranks
share one clock. Columns named ``*_idx`` point at the ``idx`` of another row of the same rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trainperf.trace import common

# Memory: a String value costs a 16-byte view whatever its length (plus its bytes past 12), a Categorical
# one 4 bytes (the distinct texts are stored once): the columns with a handful of distinct values are
# Categorical, and row ids are Int32 (a rank would need 2**31 events, ~380 GB of JSON, to overflow them).
# (With String columns the table took about 300 bytes per event; polars' estimated_size() counts no views.)
# Categoricals compare with strings (==, is_in) and sort lexically, like the strings they hold.
_C = pl.Categorical

# name -> (dtype, meaning). The reader builds exactly these columns in this order.
EVENTS_COLUMNS: dict[str, tuple[Any, str]] = {
    "rank": (pl.Int32, "rank from distributedInfo (or the file's order in the folder when absent)"),
    "idx": (pl.Int32, "row id within the rank, in file order"),
    "ph": (_C, "Chrome-trace phase: X complete, s/f flow start/end, i instant, M metadata"),
    "cat": (_C, "profiler category: cpu_op, user_annotation, cuda_runtime, kernel, gpu_memcpy, ..."),
    "name": (pl.String, "event name (op, kernel or runtime function)"),
    "pid": (pl.Int64, "process id; for GPU events the device; null when the file writes a label"),
    "tid": (pl.Int64, "thread id; for GPU events the stream; null when the file writes a label"),
    "ts": (pl.Int64, "start, ns (absolute when the file has baseTimeNanoseconds)"),
    "dur": (pl.Int64, "duration, ns (0 for instants, flows and metadata)"),
    "stream": (pl.Int64, "GPU stream (args.stream, else tid) for GPU events"),
    "device": (pl.Int32, "GPU device index for GPU events"),
    "correlation": (pl.Int64, "CUPTI/roctracer correlation id linking a runtime call to its GPU work"),
    "external_id": (pl.Int64, "profiler External id linking a runtime call to its cpu_op"),
    "flow_id": (pl.Int64, "id of a flow (ph s/f) event"),
    "bytes": (pl.Int64, "bytes moved by a memcpy/memset"),
    "collective": (_C, "NCCL/RCCL collective name (allreduce, allgather, ...)"),
    "in_nelems": (pl.Int64, "collective input message size, elements"),
    "out_nelems": (pl.Int64, "collective output message size, elements"),
    "group_size": (pl.Int32, "collective process-group size"),
    "coll_dtype": (_C, "collective element type as NCCL names it (Float, BFloat16, ...)"),
    "pg_name": (_C, "process group name"),
    "shapes": (pl.String, "JSON [Input Dims, Input type, Concrete Inputs, Input Strides] of a cpu_op recorded with shapes"),
    # Derived by the reader after parsing:
    "gpu": (pl.Boolean, "GPU-timeline event (kernel, gpu_memcpy, gpu_memset)"),
    "category": (_C, "kernel category (vocab.OpCategory) for GPU events"),
    "launch_idx": (pl.Int32, "idx of the runtime call that launched this GPU event (by correlation)"),
    "launch_ts": (pl.Int64, "start of that runtime call, ns"),
    "op_idx": (pl.Int32, "idx of the cpu_op that launched this GPU event (by External id)"),
    "step": (pl.Int32, "ProfilerStep# number whose span holds the event (GPU events: their launch)"),
}

EVENTS_SCHEMA: dict[str, Any] = {k: v[0] for k, v in EVENTS_COLUMNS.items()}

# The table analyze() works on (load_trace(..., for_analysis=True)): the columns the analyses and the HTML
# timeline read, name and shapes Categorical as well (thousands of distinct texts in millions of rows),
# and no flow events (ph s/f: a third of a Kineto trace's rows, read by no analysis). idx keeps the row
# numbers of the whole file. (V100 trace x83, 1 GB, 5.7M events: 424 MB, 75 bytes per event of the file.)
FLOW_PHASES = ("s", "f")
ANALYSIS_DROPPED = ("stream", "device", "correlation", "external_id", "flow_id", "pg_name")
ANALYSIS_SCHEMA: dict[str, Any] = {k: (_C if k in ("name", "shapes") else t) for k, t in EVENTS_SCHEMA.items()
                                   if k not in ANALYSIS_DROPPED}
GPU_CATS, RUNTIME_CATS = common.GPU_CATS, common.RUNTIME_CATS


@dataclass(frozen=True, kw_only=True)
class RankInfo:
    """What one file says about its process: rank, world size, GPU and where it came from."""

    rank: int
    path: str
    world_size: int | None = None
    rank_known: bool = True
    device_name: str | None = None
    device_props: dict[str, Any] = field(default_factory=dict)
    n_events: int = 0
    time_unit: str = "us"


@dataclass(frozen=True, kw_only=True)
class TraceSet:
    """All ranks of one profiled job: the Events table plus per-rank info and load warnings."""

    events: pl.DataFrame
    ranks: tuple[RankInfo, ...]
    warnings: tuple[str, ...] = ()
    source: str = ""

    @property
    def device_name(self) -> str | None:
        return next((r.device_name for r in self.ranks if r.device_name), None)

    def rank_ids(self) -> list[int]:
        return [r.rank for r in self.ranks]


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file and the problem."""


def starts_with(events: pl.DataFrame, col: str, prefix: str) -> pl.Expr:
    """``col`` starts with ``prefix``, whether the table holds it as String or as Categorical (the
    analysis table's name: matched once per distinct text, no cast of every row)."""
    c = pl.col(col)
    return c.cat.starts_with(prefix) if isinstance(events.schema[col], pl.Categorical) else c.str.starts_with(prefix)


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENTS_SCHEMA)
