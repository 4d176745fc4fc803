"""``load_trace``: a trace file or a folder of per-rank files -> a :class:`TraceSet`.

Per file: parse (reader.py), convert times to integer ns, link each GPU event to its launching runtime
call (``correlation``) and that call to its cpu_op (``External id``), categorize kernels, and assign
ProfilerStep# steps. Folders load their files in parallel processes when they are large enough for the
process start-up to pay off.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

from trainperf.trace.classify import categorize
from trainperf.trace.reader import read_file
from trainperf.trace.schema import EVENTS_SCHEMA, GPU_CATS, RUNTIME_CATS, RankInfo, TraceError, TraceSet

_PARALLEL_MIN_BYTES = 16 << 20  # below this a process pool costs more than it saves


def _times(df: pl.DataFrame, meta: dict[str, Any]) -> pl.DataFrame:
    """Shift to the absolute clock when the file gives baseTimeNanoseconds (Kineto >= 2.3 writes ts
    relative to it), so that ranks share one clock."""
    base = int(meta.get("baseTimeNanoseconds") or 0) if meta.get("_unit") == "us" else 0
    return df.with_columns(ts=pl.col("ts") + base) if base else df


def _link(df: pl.DataFrame) -> pl.DataFrame:
    """Derived columns: gpu, stream, category, launch_idx/launch_ts, op_idx, step."""
    df = df.with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    is_gpu = pl.col("cat").is_in(GPU_CATS) & (pl.col("ph") == "X")
    df = df.with_columns(gpu=is_gpu.fill_null(False))
    df = df.with_columns(stream=pl.when("gpu").then(pl.coalesce("stream", "tid")).otherwise("stream"),
                         device=pl.when("gpu").then(pl.coalesce(pl.col("device"), pl.col("pid").cast(pl.Int32)))
                         .otherwise("device"))
    gpu = df.filter("gpu").select("idx", "name", "cat", "correlation", "ts")
    gpu = gpu.with_columns(category=categorize(gpu))
    rt = (df.filter(pl.col("cat").is_in(RUNTIME_CATS) & pl.col("correlation").is_not_null())
          .select("correlation", launch_idx="idx", launch_ts="ts", rt_ext="external_id")
          .unique("correlation", keep="first"))
    ops = (df.filter((pl.col("cat") == "cpu_op") & pl.col("external_id").is_not_null())
           .select(rt_ext="external_id", op_idx="idx").unique("rt_ext", keep="last"))
    gpu = gpu.join(rt, on="correlation", how="left").join(ops, on="rt_ext", how="left")
    gpu = _link_by_time(df, gpu)
    steps = (df.filter(pl.col("name").str.starts_with("ProfilerStep#") & (pl.col("ph") == "X"))
             .select(step=pl.col("name").str.extract(r"#(\d+)").cast(pl.Int32), s="ts",
                     e=pl.col("ts") + pl.col("dur"))
             .drop_nulls("step").unique("step").sort("s"))
    # idx is the row number: scatter the GPU rows' links into full columns instead of joining, which
    # would copy every column of the table
    n, at = df.height, gpu["idx"]
    cols = {c: pl.repeat(None, n, dtype=gpu.schema[c], eager=True).alias(c).scatter(at, gpu[c])
            for c in ("category", "launch_idx", "launch_ts", "op_idx")}
    df = df.with_columns(**cols)
    if steps.height:
        key = pl.when("gpu").then(pl.coalesce("launch_ts", "ts")).otherwise("ts")
        keyed = (df.select("idx", _key=key).sort("_key")
                 .join_asof(steps, left_on="_key", right_on="s", strategy="backward")
                 .select("idx", step=pl.when(pl.col("_key") < pl.col("e")).then("step")).sort("idx"))
        return df.with_columns(step=keyed["step"])
    return df.with_columns(step=pl.lit(None, pl.Int32))


def _link_by_time(df: pl.DataFrame, gpu: pl.DataFrame) -> pl.DataFrame:
    """Older Kineto writes the correlation id as the runtime call's External id: link those calls to the
    innermost cpu_op on the same thread whose span holds them (the latest-starting op before the call)."""
    todo = gpu.filter(pl.col("op_idx").is_null() & pl.col("launch_idx").is_not_null())
    if todo.height == 0:
        return gpu
    calls = df.join(todo.select(idx="launch_idx"), on="idx", how="semi").select(
        launch_idx="idx", pid="pid", tid="tid", t="ts").drop_nulls(["pid", "tid"])
    cpu = (df.filter((pl.col("cat") == "cpu_op") & (pl.col("ph") == "X")).drop_nulls(["pid", "tid"])
           .select("pid", "tid", t="ts", op_end=pl.col("ts") + pl.col("dur"), op2="idx"))
    hit = (calls.sort("pid", "tid", "t").join_asof(cpu.sort("pid", "tid", "t"), on="t", by=["pid", "tid"],
                                                 strategy="backward", check_sortedness=False)
           .filter(pl.col("t") < pl.col("op_end")).select("launch_idx", "op2"))
    return (gpu.join(hit, on="launch_idx", how="left").with_columns(op_idx=pl.coalesce("op_idx", "op2"))
            .drop("op2"))


def _device_name(meta: dict[str, Any], df: pl.DataFrame) -> tuple[str | None, dict[str, Any]]:
    props = [p for p in meta.get("deviceProperties") or [] if isinstance(p, dict)]
    if not props:
        return None, {}
    used = df.filter("gpu")["device"].drop_nulls()
    dev = used.mode()[0] if used.len() else props[0].get("id", 0)
    p = next((p for p in props if p.get("id") == dev), props[0])
    return (str(p["name"]) if p.get("name") else None), p


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
    df, unit = _times(raw, meta), str(meta["_unit"])
    df = _link(df)
    raw_dist = meta.get("distributedInfo")
    dist: dict[str, Any] = raw_dist if isinstance(raw_dist, dict) else {}
    rank = dist.get("rank") if isinstance(dist.get("rank"), int) else None
    ws = dist.get("world_size") if isinstance(dist.get("world_size"), int) else None
    name, props = _device_name(meta, df)
    info = RankInfo(rank=rank if rank is not None else -1, rank_known=rank is not None, world_size=ws,
                    path=str(p), device_name=name, device_props=props, n_events=df.height, time_unit=unit)
    return df, info, warnings


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
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
        if e < ref_start or s > ref_end:
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
    events = pl.concat([f.select(list(EVENTS_SCHEMA)).cast(EVENTS_SCHEMA) for f in frames])  # type: ignore[arg-type]
    order = sorted(range(len(infos)), key=lambda i: infos[i].rank)
    return TraceSet(events=events.sort("rank", "idx"), ranks=tuple(infos[i] for i in order),
                    warnings=tuple(warnings), source=str(root))
