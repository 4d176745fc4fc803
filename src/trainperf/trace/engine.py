"""How the trace package runs its lazy polars queries.

polars' "auto" engine runs a lazy query on the streaming engine, whose start-up costs about 1.5 ms per
query on a 2-core machine: more than the query itself on a trace chunk or an analysis of a few thousand
kernels. The in-memory engine answers the same queries (the tables all fit in memory: they are the
Events table or a part of it) for 0.1-0.5 ms of fixed cost. Chosen per query, so that a user's
polars.Config is left alone.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import polars as pl

ENGINE: Final = "in-memory"


def collect(lf: pl.LazyFrame) -> pl.DataFrame:
    return lf.collect(engine=ENGINE)


def collect_all(lfs: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    return pl.collect_all(lfs, engine=ENGINE)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:  # a forked child has no worker thread: it starts its own
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def background() -> ThreadPoolExecutor:
    """The trace package's one worker thread, for polars work that overlaps the calling thread's (chunk
    conversion beside the JSON parse, GPU-timeline analyses beside the hardware lookup). One thread for
    the whole process rather than one per call: each thread that allocates gets its own allocator
    arena, and memory freed in one arena is not reused by another (+5 MB peak on a 15 MB trace). Tasks
    never wait on each other, so sharing it cannot deadlock."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(1, thread_name_prefix="trainperf-trace")
        return _POOL
