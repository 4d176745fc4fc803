"""``load_trace``: a trace file or a folder of per-rank files -> a :class:`TraceSet`.

Per file: parse and convert to typed columns with integer-ns times (reader.py, chunk.py), then link each
GPU event to its launching runtime call (``correlation``) and that call to its cpu_op (``External id``),
categorize kernels and assign ProfilerStep# steps (link.py). Folders load their files in parallel
processes when they are large enough for the process start-up to pay off.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from trainperf.trace import common
from trainperf.trace.link import chunked, link
from trainperf.trace.reader import read_file
from trainperf.trace.schema import ANALYSIS_SCHEMA, EVENTS_SCHEMA, RankInfo, TraceError, TraceSet

_PARALLEL_MIN_BYTES = 16 << 20  # below this a process pool costs more than it saves


Span = tuple[int | None, int | None]  # a rank's first start and last end, ns


def read_rank(path: str | Path, time_unit: str | None = None, lean: bool = False,
              ) -> tuple[pl.DataFrame, RankInfo, list[str], Span]:
    """One file -> its events (rank column still to be set; ``lean``: the analysis table, schema.py), its
    RankInfo, warnings and the span of all its events. Any failure is a TraceError naming the file (never
    a traceback from deep inside the parser)."""
    p = Path(path)
    try:
        return _read_rank(p, time_unit, lean)
    except TraceError:
        raise
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise TraceError(f"{p}: cannot read this trace ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e


def _read_rank(p: Path, time_unit: str | None, lean: bool) -> tuple[pl.DataFrame, RankInfo, list[str], Span]:
    raw, meta = read_file(p, time_unit=time_unit, lean=lean)
    warnings = common.read_warnings(meta, p)
    try:
        base = common.base_ns(meta, p)
        lo, hi = meta["_span"]  # (of every event: a lean table lacks the flows)
        common.check_range(lo, hi, base, p)
    except common.MetaError as e:
        raise TraceError(str(e)) from None
    df = link(raw.with_columns(ts=pl.col("ts") + base) if base else raw, meta.pop("_link_parts"), base)
    if meta.get("_bad_steps"):
        warnings.append(f"{p.name}: {meta['_bad_steps']} ProfilerStep# span(s) with a step number beyond 2**31-1; "
                        "not used as steps")
    rank, ws = common.rank_fields(meta, warnings, p)
    name, props = common.device(meta, df["device"].filter(df["gpu"]).drop_nulls().to_list(), warnings, p)
    info = RankInfo(rank=rank if rank is not None else -1, rank_known=rank is not None, world_size=ws,
                    path=str(p), device_name=name, device_props=props, n_events=meta["_rows"],
                    time_unit=str(meta["_unit"]))
    span = (None if lo is None else lo + base, None if hi is None else hi + base)
    return (df.drop("device") if lean else df), info, warnings, span


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    if not path.is_dir():  # a FIFO, socket or device: reading it would block or never end
        raise TraceError(f"{path}: not a regular file or folder (a pipe, socket or device); save the trace "
                         "to a file and analyze that")
    pats = ("*.json", "*.json.gz")
    files = sorted(f for pat in pats for f in path.glob(pat) if f.is_file())
    if not files:
        files = sorted(f for pat in pats for f in path.rglob(pat) if f.is_file())
    if not files:
        raise TraceError(f"{path}: no *.json or *.json.gz trace files in this folder")
    return files


def _read_all(files: list[Path], time_unit: str | None, parallel: bool | None, lean: bool) -> list[Any]:
    big = sum(f.stat().st_size for f in files) >= _PARALLEL_MIN_BYTES
    workers = min(len(files), os.cpu_count() or 1)
    if len(files) > 1 and workers > 1 and (parallel or (parallel is None and big)):
        # imported here: process pools cost 6 ms of imports that small traces never use
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = [ex.submit(read_rank, f, time_unit, lean) for f in files]
            return [_result(f) for f in futs]
    out: list[Any] = []
    for f in files:
        try:
            out.append(read_rank(f, time_unit, lean))
        except TraceError as e:
            out.append(e)
    return out


def _result(fut: Any) -> Any:
    try:
        return fut.result()
    except TraceError as e:
        return e


def _align_clocks(frames: list[pl.DataFrame], infos: list[RankInfo], spans: list[Span],
                  warnings: list[str]) -> list[pl.DataFrame]:
    """Ranks of one job record overlapping windows (``spans``); a rank whose window does not overlap the
    median rank's is on a skewed clock: shift it so its first event starts with the median rank's."""
    if len(frames) < 2:
        return frames
    # (None only for a rank with metadata events alone: typed as loosely as before)
    spans_: list[tuple[Any, Any]] = list(spans)
    starts = sorted(s for s, _ in spans_)
    ref_start = starts[len(starts) // 2]
    ref_end = next(e for s, e in spans_ if s == ref_start)
    out = []
    for f, info, (s, e) in zip(frames, infos, spans_, strict=True):
        if (e < ref_start or s > ref_end) and e - s + ref_start >= 2**63 - 1:
            warnings.append(f"rank {info.rank} ({Path(info.path).name}): its window does not overlap the other "
                            "ranks' and cannot be shifted onto theirs within int64 ns; left as it is")
        elif e < ref_start or s > ref_end:
            shift = ref_start - s
            warnings.append(f"rank {info.rank} ({Path(info.path).name}): clock skew of {shift / 1e9:+.3f} s "
                            "against the other ranks (or the files come from different runs); its times are "
                            "shifted to align the trace starts")
            f = f.with_columns(ts=pl.col("ts") + shift,
                               launch_ts=pl.col("launch_ts") + shift)
        out.append(f)
    return out


def load_trace(path: str | Path, *, time_unit: str | None = None, parallel: bool | None = None,
               for_analysis: bool = False) -> TraceSet:
    """Read a PyTorch profiler (Kineto) trace file, plain or gzip, or a folder of per-rank files.

    ``time_unit`` forces "us" or "ns" for files whose ``ts`` unit cannot be told from the values.
    ``for_analysis`` keeps only what analyze() reads (schema.ANALYSIS_SCHEMA: no flow events, fewer
    columns, name and shapes Categorical), about a third of the full table's memory.
    Unreadable files in a folder become warnings while at least one file reads; duplicated ranks keep
    the first file; files from another job (different world size) are left out with a warning.
    """
    if time_unit not in (None, "us", "ns"):
        raise ValueError(f"time_unit={time_unit!r}; use 'us' or 'ns'")
    root = Path(path)
    files = _files(root)
    results = _read_all(files, time_unit, parallel, for_analysis)
    errors = [r for r in results if isinstance(r, Exception)]
    ok = [r for r in results if not isinstance(r, Exception)]
    if not ok:
        raise errors[0]
    warnings = [f"skipped: {e}" for e in errors]
    ws_counts = Counter(info.world_size for _, info, _, _ in ok if info.world_size is not None)
    if len(ws_counts) > 1:
        keep_ws = ws_counts.most_common(1)[0][0]
        dropped = [Path(i.path).name for _, i, _, _ in ok if i.world_size not in (keep_ws, None)]
        warnings.append(f"mixed jobs in {root}: world sizes {sorted(ws_counts)}; analyzing the "
                        f"world_size={keep_ws} ranks, leaving out {', '.join(dropped)}")
        ok = [r for r in ok if r[1].world_size in (keep_ws, None)]
    frames: list[pl.DataFrame] = []
    infos: list[RankInfo] = []
    spans: list[Span] = []
    seen: dict[int, str] = {}
    used = {i.rank for _, i, _, _ in ok if i.rank_known}
    nxt = 0
    for df, info, w, span in ok:
        warnings.extend(w)
        rank = info.rank
        if not info.rank_known:
            while nxt in used:
                nxt += 1
            rank, used = nxt, used | {nxt}
            warnings.append(f"{Path(info.path).name}: no distributedInfo.rank; treated as rank {rank}")
        if rank in seen:
            warnings.append(f"rank {rank} appears in {seen[rank]} and {Path(info.path).name}; "
                            f"keeping {seen[rank]}")
            continue
        seen[rank] = Path(info.path).name
        infos.append(RankInfo(**{**info.__dict__, "rank": rank}))
        spans.append(span)
        # (chunked like the other columns: see link.chunked)
        col = pl.repeat(rank, df.height, dtype=pl.Int32, eager=True).alias("rank")
        frames.append(df.with_columns(chunked(col, df["idx"].chunk_lengths())))
    frames = _align_clocks(frames, infos, spans, warnings)
    # ranks in order, each already in idx (file) order: concatenating them is the sorted table, without
    # a sort's copy of every column
    order = sorted(range(len(infos)), key=lambda i: infos[i].rank)
    schema = ANALYSIS_SCHEMA if for_analysis else EVENTS_SCHEMA
    events = pl.concat([frames[i].select(list(schema)).cast(schema)  # type: ignore[arg-type]
                        for i in order], rechunk=False)
    return TraceSet(events=events, ranks=tuple(infos[i] for i in order),
                    warnings=tuple(warnings), source=str(root))
