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

from trainperf.trace.link import link
from trainperf.trace.reader import read_file
from trainperf.trace.schema import EVENTS_SCHEMA, RankInfo, TraceError, TraceSet

_PARALLEL_MIN_BYTES = 16 << 20  # below this a process pool costs more than it saves


_INT32_MAX = 2**31 - 1
# Times are int64 ns. Each event's ts and dur are kept within +-2**62 (chunk.py), so a base offset below
# 2**62 can still overflow their sum: checked on the file's extremes after reading (_check_range).
_NS_LIMIT = 2**62


def _base_ns(meta: dict[str, Any], path: Path) -> int:
    """baseTimeNanoseconds, added to ts so that ranks share one clock (Kineto >= 2.3 writes ts relative to
    it). A value that is not a whole number of ns in [0, 2**62) (2**62 ns is 146 years after the epoch)
    is an error: adding it would wrap int64 times or shift them by nonsense."""
    v = meta.get("baseTimeNanoseconds")
    if v is None or meta.get("_unit") != "us":
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise TraceError(f"{path}: baseTimeNanoseconds is a {type(v).__name__} ({str(v)[:40]}); expected an "
                         "integer number of ns: fix or delete that key")
    try:
        base = int(v)
    except (ValueError, OverflowError):
        raise TraceError(f"{path}: baseTimeNanoseconds {str(v)[:40]!r} is not an integer number of ns: fix or "
                         "delete that key") from None
    if not 0 <= base < _NS_LIMIT:
        raise TraceError(f"{path}: baseTimeNanoseconds {base} is outside [0, 2**62) ns; fix or delete that key")
    return base


def _check_range(df: pl.DataFrame, base: int, path: Path) -> None:
    """ts + base and ts + dur + base must stay inside int64 ns (they would wrap to negative windows)."""
    lo, hi = df.select(lo=pl.col("ts").min(), hi=(pl.col("ts") + pl.col("dur")).max()).row(0)
    if lo is not None and (hi + base >= 2**63 - 1 or lo + base <= -(2**63)):
        raise TraceError(f"{path}: baseTimeNanoseconds {base} plus the events' ts goes beyond the int64 ns range "
                         "(292 years); the file's times are corrupt")


def _int_field(d: dict[str, Any], key: str, lo: int, warnings: list[str], path: Path) -> int | None:
    """distributedInfo.rank / world_size: an integer in [lo, 2**31 - 1], else None with a warning (a bool is
    not a rank: JSON true is no number)."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= _INT32_MAX:
        return v
    warnings.append(f"{path.name}: distributedInfo.{key} {str(v)[:30]!r} is not an integer in [{lo}, 2**31-1]; "
                    "ignored")
    return None


def _device_name(meta: dict[str, Any], df: pl.DataFrame, warnings: list[str],
                 path: Path) -> tuple[str | None, dict[str, Any]]:
    raw = meta.get("deviceProperties")
    if raw is not None and not isinstance(raw, list):
        warnings.append(f"{path.name}: deviceProperties is a {type(raw).__name__}, not a list of devices; "
                        "ignored (pass --gpu for speed of light)")
        raw = None
    props = [p for p in raw or [] if isinstance(p, dict)]
    if not props:
        return None, {}
    used = df["device"].filter(df["gpu"]).drop_nulls()
    dev = used.mode().sort()[0] if used.len() else props[0].get("id", 0)
    p = next((p for p in props if p.get("id") == dev), props[0])
    name = p.get("name")
    return (str(name) if name and isinstance(name, str | int | float) else None), p


def read_rank(path: str | Path, time_unit: str | None = None) -> tuple[pl.DataFrame, RankInfo, list[str]]:
    """One file -> its events (rank column still to be set), its RankInfo and warnings. Any failure is a
    TraceError naming the file (never a traceback from deep inside the parser)."""
    p = Path(path)
    try:
        return _read_rank(p, time_unit)
    except TraceError:
        raise
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise TraceError(f"{p}: cannot read this trace ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e


def _read_rank(p: Path, time_unit: str | None) -> tuple[pl.DataFrame, RankInfo, list[str]]:
    raw, meta = read_file(p, time_unit=time_unit)
    warnings: list[str] = []
    if meta.get("_dropped"):
        warnings.append(f"{p.name}: skipped {meta['_dropped']} events without 'ph' or 'ts'")
    if meta.get("_dup_keys"):
        warnings.append(f"{p.name}: the traceEvents key appears {meta['_dup_keys']} times; the events of every "
                        "one are read")
    if meta.get("_out_of_range"):
        warnings.append(f"{p.name}: skipped {meta['_out_of_range']} events whose ts or dur is beyond +-2**62 ns "
                        "(146 years): corrupt times")
    base, unit = _base_ns(meta, p), str(meta["_unit"])
    _check_range(raw, base, p)
    df = link(raw.with_columns(ts=pl.col("ts") + base) if base else raw, meta.pop("_link_parts"), base)
    if meta.get("_bad_steps"):
        warnings.append(f"{p.name}: {meta['_bad_steps']} ProfilerStep# span(s) with a step number beyond 2**31-1; "
                        "not used as steps")
    raw_dist = meta.get("distributedInfo")
    dist: dict[str, Any] = raw_dist if isinstance(raw_dist, dict) else {}
    rank = _int_field(dist, "rank", 0, warnings, p)
    ws = _int_field(dist, "world_size", 1, warnings, p)
    name, props = _device_name(meta, df, warnings, p)
    info = RankInfo(rank=rank if rank is not None else -1, rank_known=rank is not None, world_size=ws,
                    path=str(p), device_name=name, device_props=props, n_events=df.height, time_unit=unit)
    return df, info, warnings


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


def _read_all(files: list[Path], time_unit: str | None, parallel: bool | None) -> list[Any]:
    big = sum(f.stat().st_size for f in files) >= _PARALLEL_MIN_BYTES
    workers = min(len(files), os.cpu_count() or 1)
    if len(files) > 1 and workers > 1 and (parallel or (parallel is None and big)):
        # imported here: process pools cost 6 ms of imports that small traces never use
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = [ex.submit(read_rank, f, time_unit) for f in files]
            return [_result(f) for f in futs]
    out: list[Any] = []
    for f in files:
        try:
            out.append(read_rank(f, time_unit))
        except TraceError as e:
            out.append(e)
    return out


def _result(fut: Any) -> Any:
    try:
        return fut.result()
    except TraceError as e:
        return e


def _align_clocks(frames: list[pl.DataFrame], infos: list[RankInfo], warnings: list[str]) -> list[pl.DataFrame]:
    """Ranks of one job record overlapping windows; a rank whose window does not overlap the median
    rank's is on a skewed clock: shift it so its first event starts with the median rank's."""
    if len(frames) < 2:
        return frames
    spans = [f.select(s=pl.col("ts").min(), e=(pl.col("ts") + pl.col("dur")).max()).row(0) for f in frames]
    starts = sorted(s for s, _ in spans)
    ref_start = starts[len(starts) // 2]
    ref_end = next(e for s, e in spans if s == ref_start)
    out = []
    for f, info, (s, e) in zip(frames, infos, spans, strict=True):
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


def load_trace(path: str | Path, *, time_unit: str | None = None, parallel: bool | None = None) -> TraceSet:
    """Read a PyTorch profiler (Kineto) trace file, plain or gzip, or a folder of per-rank files.

    ``time_unit`` forces "us" or "ns" for files whose ``ts`` unit cannot be told from the values.
    Unreadable files in a folder become warnings while at least one file reads; duplicated ranks keep
    the first file; files from another job (different world size) are left out with a warning.
    """
    if time_unit not in (None, "us", "ns"):
        raise ValueError(f"time_unit={time_unit!r}; use 'us' or 'ns'")
    root = Path(path)
    files = _files(root)
    results = _read_all(files, time_unit, parallel)
    errors = [r for r in results if isinstance(r, Exception)]
    ok = [r for r in results if not isinstance(r, Exception)]
    if not ok:
        raise errors[0]
    warnings = [f"skipped: {e}" for e in errors]
    ws_counts = Counter(info.world_size for _, info, _ in ok if info.world_size is not None)
    if len(ws_counts) > 1:
        keep_ws = ws_counts.most_common(1)[0][0]
        dropped = [Path(i.path).name for _, i, _ in ok if i.world_size not in (keep_ws, None)]
        warnings.append(f"mixed jobs in {root}: world sizes {sorted(ws_counts)}; analyzing the "
                        f"world_size={keep_ws} ranks, leaving out {', '.join(dropped)}")
        ok = [r for r in ok if r[1].world_size in (keep_ws, None)]
    frames: list[pl.DataFrame] = []
    infos: list[RankInfo] = []
    seen: dict[int, str] = {}
    used = {i.rank for _, i, _ in ok if i.rank_known}
    nxt = 0
    for df, info, w in ok:
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
        frames.append(df.with_columns(rank=pl.lit(rank, pl.Int32)))
    frames = _align_clocks(frames, infos, warnings)
    # ranks in order, each already in idx (file) order: concatenating them is the sorted table, without
    # a sort's copy of every column
    order = sorted(range(len(infos)), key=lambda i: infos[i].rank)
    events = pl.concat([frames[i].select(list(EVENTS_SCHEMA)).cast(EVENTS_SCHEMA)  # type: ignore[arg-type]
                        for i in order], rechunk=False)
    return TraceSet(events=events, ranks=tuple(infos[i] for i in order),
                    warnings=tuple(warnings), source=str(root))
