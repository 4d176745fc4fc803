"""One call from a loaded trace to every analysis: ``analyze(load_trace(path), gpu="H100-SXM")``."""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from trainperf.trace.analyses.collectives import collectives
from trainperf.trace.analyses.host import host_tables
from trainperf.trace.analyses.imbalance import rank_imbalance
from trainperf.trace.analyses.kernels import kernel_breakdown, top_kernels
from trainperf.trace.analyses.launch import launch_stats
from trainperf.trace.analyses.opportunities import opportunities
from trainperf.trace.analyses.overlap import comm_overlap
from trainperf.trace.analyses.sol import op_sol, resolve_gpu, sol_summary
from trainperf.trace.analyses.temporal import temporal_breakdown
from trainperf.trace.engine import background
from trainperf.trace.load import load_trace
from trainperf.trace.schema import TraceSet


@dataclass(frozen=True, kw_only=True)
class TraceAnalysis:
    """Every analysis of one TraceSet, as tables (docs/analyses/*.md says what each column means)."""

    trace: TraceSet
    gpu: Any | None
    temporal: pl.DataFrame
    kernels: pl.DataFrame
    top_kernels: pl.DataFrame
    launch: pl.DataFrame
    overlap: pl.DataFrame
    collectives: pl.DataFrame
    imbalance: pl.DataFrame
    sol: pl.DataFrame
    sol_summary: dict[str, float]
    opportunities: pl.DataFrame
    host: pl.DataFrame
    host_ops: pl.DataFrame
    notes: tuple[str, ...] = field(default=())

    def tables(self) -> dict[str, pl.DataFrame]:
        return {"temporal": self.temporal, "kernels": self.kernels, "top_kernels": self.top_kernels,
                "launch": self.launch, "overlap": self.overlap, "collectives": self.collectives,
                "imbalance": self.imbalance, "sol": self.sol, "opportunities": self.opportunities,
                "host": self.host, "host_ops": self.host_ops}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: source, ranks, GPU, warnings, and every table as a list of row dicts."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "source": self.trace.source,
            "device": self.trace.device_name,
            "events": sum(r.n_events for r in self.trace.ranks),  # (the analysis table leaves out flows)
            "ranks": [{"rank": r.rank, "path": r.path, "world_size": r.world_size, "device": r.device_name,
                       "events": r.n_events} for r in self.trace.ranks],
            "gpu": self.gpu.name if self.gpu is not None else None,
            "warnings": list(self.trace.warnings) + list(self.notes),
            "sol_summary": {k: clean(v) for k, v in self.sol_summary.items()},
            "tables": {k: [{c: clean(v) for c, v in row.items()} for row in t.iter_rows(named=True)]
                       for k, t in self.tables().items()},
        }


# Above this many rows the analyses run one after the other: on the V100 trace x83 (3.6M rows) side by
# side they peaked 100 MB higher and gained 0.5 s of 28 s.
_OVERLAP_MAX_ROWS = 1 << 20


def _gpu_timeline(ev: pl.DataFrame) -> tuple[pl.DataFrame, ...]:
    """The analyses that are polars queries from end to end (they release the GIL)."""
    return temporal_breakdown(ev), launch_stats(ev), comm_overlap(ev), collectives(ev)


def analyze(trace: TraceSet | str | Path, *, gpu: str | Any | None = None, top: int = 20) -> TraceAnalysis:
    """Run every analysis. ``gpu`` (a catalog name, alias or GPUSpec) overrides the trace's
    deviceProperties for speed of light; without either, SOL columns are left out with a note. A path is
    loaded as the analysis table (load_trace(..., for_analysis=True)): what the analyses read."""
    ts = trace if isinstance(trace, TraceSet) else load_trace(trace, for_analysis=True)
    ev = ts.events
    n_gpu = int(ev["gpu"].sum())
    notes: list[str] = []
    spec: Any
    # The GPU-timeline analyses run on a worker thread while this one does the Python-heavy parts (the
    # hardware catalog, pricing ops from their shapes): on two cores the two overlap. On a large table
    # they run first instead, so that the two sets of working memory do not add up.
    timeline: Future[tuple[pl.DataFrame, ...]] = Future()
    if ev.height > _OVERLAP_MAX_ROWS:
        timeline.set_result(_gpu_timeline(ev))
    else:
        timeline = background().submit(_gpu_timeline, ev)
    try:
        if isinstance(gpu, str):
            from trainperf.hardware import get_gpu

            spec = get_gpu(gpu)  # an explicit choice: an unknown name is an error (KeyError with the closest)
        elif gpu is None:
            props = next((r.device_props for r in ts.ranks if r.device_name), None)
            spec, why = resolve_gpu(ts.device_name, props)
            if why and n_gpu:
                notes.append(why)
        else:
            spec = gpu
        sol = op_sol(ev, spec)
        kernels, top_k = kernel_breakdown(ev), top_kernels(ev, top)
    finally:  # (the timeline's result, or its error, before anything else: it never outlives this call)
        temporal, launch, overlap, coll = timeline.result()
    if n_gpu == 0:
        notes.append("no GPU events in the trace (CPU-only profile): host-side analyses only (host time by "
                     "op, dispatch); the GPU timeline tables are empty")
    imb = rank_imbalance(temporal) if temporal.height else pl.DataFrame()
    if n_gpu and ev["shapes"].null_count() == ev.height:
        notes.append("no shapes recorded (profile with record_shapes=True for speed of light per op)")
    opp = opportunities(ev, temporal, launch, overlap, coll, sol, imb, spec)
    host, host_ops = host_tables(ev)
    return TraceAnalysis(trace=ts, gpu=spec, temporal=temporal, kernels=kernels, top_kernels=top_k, launch=launch,
                         overlap=overlap, collectives=coll, imbalance=imb, sol=sol, sol_summary=sol_summary(sol),
                         opportunities=opp, host=host, host_ops=host_ops, notes=tuple(notes))


@dataclass(frozen=True, kw_only=True)
class TraceComparison:
    """Trace B against trace A: per-step time by part, by kernel category and by kernel."""

    a: str
    b: str
    temporal: pl.DataFrame
    ranks: pl.DataFrame
    categories: pl.DataFrame
    kernels: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "tables": {
            k: t.to_dicts() for k, t in (("temporal", self.temporal), ("ranks", self.ranks),
                                         ("categories", self.categories),
                                         ("kernels", self.kernels))}}


def compare_traces(a: TraceSet | str | Path, b: TraceSet | str | Path, *, top: int = 20) -> TraceComparison:
    """Compare two traces (before/after a change, or two ranks' files)."""
    from trainperf.trace.analyses.compare import (
        compare_categories,
        compare_kernels,
        compare_ranks,
        compare_temporal,
    )

    ta = a if isinstance(a, TraceSet) else load_trace(a)
    tb = b if isinstance(b, TraceSet) else load_trace(b)
    return TraceComparison(a=ta.source, b=tb.source, temporal=compare_temporal(ta.events, tb.events),
                           ranks=compare_ranks(ta.events, tb.events),
                           categories=compare_categories(ta.events, tb.events),
                           kernels=compare_kernels(ta.events, tb.events, top))
