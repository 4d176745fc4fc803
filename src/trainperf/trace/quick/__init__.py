"""The small-trace engine: ``trainperf analyze`` of one small file in plain Python (orjson and the shared
rules, no polars), for a report in well under a tenth of a second where importing polars alone takes
longer. The same analyses as the polars engine, the same JSON (``TraceAnalysis.to_dict()``): a test
compares the two on every real trace. Anything unusual falls back to the polars engine (read.Fallback).

Large traces keep the polars engine: past a few MB its columnar queries win over Python loops
(benchmarks/bench_trace.py measures both).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Up to this much JSON the small engine is the faster one (benchmarks/bench_trace.py --cli, whole process:
# 0.30 s vs 0.39 s on the 8.7 MB, 18k-event Qwen trace, 0.56 s vs 0.46 s on the 9.8 MB, 41k-event NCCL
# one: they cross near 25-30k events; 6 MiB of the densest real trace, 240 bytes per event, is 26k).
# gzip files count by their inflated size.
MAX_BYTES = 6 << 20


def small(path: Path) -> bool:
    """A regular file of at most MAX_BYTES of JSON (a gzip file's inflated size is in its last 4 bytes,
    modulo 2**32: RFC 1952 ISIZE; a file that inflates 4 GB more is caught by the size ratio)."""
    try:
        if not path.is_file():
            return False
        size = path.stat().st_size
        with path.open("rb") as f:
            if f.read(2) != b"\x1f\x8b":
                return size <= MAX_BYTES
            f.seek(-4, 2)
            return size <= MAX_BYTES and int.from_bytes(f.read(4), "little") <= MAX_BYTES
    except OSError:
        return False


def analyze_small(path: str | Path, *, gpu: str | None = None, top: int = 20) -> dict[str, Any] | None:
    """What ``trainperf.trace.analyze(path, gpu=gpu, top=top).to_dict()`` returns, or None when this
    file is for the polars engine (not small, or anything the conservative reader leaves to it)."""
    from trainperf.trace.quick import read

    p = Path(path)
    if not small(p):
        return None
    try:
        evs, meta = read.parse(p)
        return _analyze(p, str(path), evs, meta, gpu, top)
    except read.Fallback:
        return None


def _analyze(p: Path, source: str, evs: list[dict[str, Any]], meta: dict[str, Any], gpu_name: str | None,
             top: int) -> dict[str, Any] | None:
    from trainperf.trace import common
    from trainperf.trace.analyses.pricing import resolve_gpu
    from trainperf.trace.quick import ops, read, timeline

    warnings = common.read_warnings(meta, p)
    try:
        base = common.base_ns(meta, p)
        starts = [e["ts"] for e in evs if e["ts"] is not None]
        common.check_range(min(starts, default=None), max((e["ts"] + e["dur"] for e in evs if e["ts"] is not None),
                                                          default=None), base, p)
    except common.MetaError:
        return None  # the polars engine says why
    bad = read.link(evs, base)
    if bad:
        warnings.append(f"{p.name}: {bad} ProfilerStep# span(s) with a step number beyond 2**31-1; not used as steps")
    rank, ws = common.rank_fields(meta, warnings, p)
    name, props = common.device(meta, [e["device"] for e in evs if e["gpu"] and e["device"] is not None], warnings, p)
    if rank is None:
        warnings.append(f"{p.name}: no distributedInfo.rank; treated as rank 0")
    r = rank if rank is not None else 0
    for e in evs:
        e["rank"] = r
    notes: list[str] = []
    n_gpu = sum(e["gpu"] for e in evs)
    if gpu_name is not None:
        from trainperf.hardware import get_gpu

        try:
            spec: Any = get_gpu(gpu_name)
        except KeyError:
            return None  # the polars engine's error names the closest GPUs
    else:
        spec, why = resolve_gpu(name, props if name else None)
        if why and n_gpu:
            notes.append(why)
    gpu_by = timeline.by_rank([e for e in evs if e["gpu"]])
    temporal = timeline.temporal(gpu_by, timeline.sync_calls(evs))
    launch, overlap = timeline.launch(gpu_by, evs), timeline.overlap(gpu_by)
    coll = timeline.collectives(gpu_by, evs)
    sol = ops.sol(evs, spec)
    if n_gpu == 0:
        notes.append("no GPU events in the trace (CPU-only profile): host-side analyses only (host time by "
                     "op, dispatch); the GPU timeline tables are empty")
    imb = timeline.imbalance(temporal) if temporal else []
    if n_gpu and all(e["shapes"] is None for e in evs):
        notes.append("no shapes recorded (profile with record_shapes=True for speed of light per op)")
    opp = ops.opportunities(evs, gpu_by, temporal, launch, overlap, coll, sol, imb, spec)
    host, host_ops = ops.host(evs)
    tables = {"temporal": temporal, "kernels": timeline.kernels(gpu_by), "top_kernels": timeline.top_kernels(gpu_by, top),
              "launch": launch, "overlap": overlap, "collectives": coll, "imbalance": imb, "sol": sol,
              "opportunities": opp, "host": host, "host_ops": host_ops}
    return {"source": source, "device": name, "events": len(evs),
            "ranks": [{"rank": r, "path": str(p), "world_size": ws, "device": name, "events": len(evs)}],
            "gpu": spec.name if spec is not None else None, "warnings": warnings + notes,
            "sol_summary": {k: _clean(v) for k, v in ops.sol_summary(sol, spec is not None).items()},
            "tables": {k: [{c: _clean(v) for c, v in row.items()} for row in t] for k, t in tables.items()}}


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
