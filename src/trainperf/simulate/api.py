"""simulate(): build the task graph of a plan, run the event engine, charge interference, summarize.

Interference (StepModelParams.overlap_interference = k: NCCL kernels and compute kernels share SMs and HBM
bandwidth while they overlap, so each slows the other) is charged on the overlap the timeline actually
shows: a first run measures, for each compute task, the seconds of communication (every stream but the
pipeline's) that ran under its kernels, and for each communication task the seconds of compute kernels
under it; a second run stretches each by k x its overlap. Whichever side is on the critical path then costs
max(compute, comm) + k x overlap, the analytic model's rule (parallel.estimate.compose: exposed comm beyond
its window, plus k x hidden), so the two agree wherever the timeline overlaps what the closed form assumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainperf.hardware.cluster import ClusterSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan
from trainperf.simulate.build import WhatIf, build_graph
from trainperf.simulate.engine import Timeline, run, topology
from trainperf.simulate.graph import StepGraph


@dataclass(frozen=True, kw_only=True)
class StageSummary:
    """One representative rank's last simulated step, split as the trace analyzer splits a measured one
    (trace/analyses/temporal.py): window = first to last GPU work of the step; compute = kernel time;
    communication = collectives with no compute kernel beside them (a receive spinning in a pipeline bubble
    included); idle = the rest (per-layer host and framework time, waits)."""

    stage: int
    rank: int
    window_s: float
    compute_s: float
    exposed_comm_s: dict[str, float]
    """By axis; axes may overlap each other, so their sum can exceed ``communication_s``."""
    communication_s: float
    idle_s: float


@dataclass(frozen=True, kw_only=True)
class SimResult:
    timeline: Timeline
    step_times_s: tuple[float, ...]
    stages: tuple[StageSummary, ...]

    @property
    def step_time_s(self) -> float:
        """The last simulated step (the steady one when --steps > 1)."""
        return self.step_times_s[-1]


def _busy(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted disjoint busy intervals and the busy time accumulated before each start."""
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    before = np.concatenate([[0.0], np.cumsum(e - s)[:-1]])
    return s, e, before


def _busy_until(t: np.ndarray, s: np.ndarray, e: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Busy time in [0, t] of disjoint intervals (s, e) sorted by start."""
    k = np.searchsorted(s, t, side="right") - 1
    out = np.zeros(len(t))
    ok = k >= 0
    kk = k[ok]
    out[ok] = before[kk] + np.minimum(t[ok], e[kk]) - s[kk]
    return out


def _kernels(tl: Timeline, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Busy intervals of the compute kernels of tasks ``ids`` (a compute task runs its kernels first, then
    waits out its host share)."""
    comp = ids[tl.compute[ids]]
    st = tl.start_s[comp]
    return _busy(st, st + np.minimum(tl.kernel_s[comp], tl.end_s[comp] - st))


def _ids(tl: Timeline, step: int, stage: int) -> np.ndarray:
    return np.flatnonzero((tl.stage == stage) & (tl.step == step))


def _spans(tl: Timeline, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compute tasks of ``ids`` and their start / end: the span interference is counted on. The analytic
    model counts communication hidden under a layer's compute time, host share included (compose: min(comm,
    window)), so the simulator counts the same span; the charge lands on the kernels."""
    comp = ids[tl.compute[ids]]
    return comp, tl.start_s[comp], tl.end_s[comp]


def _comm_overlap(tl: Timeline, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hideable communication tasks of ``ids`` and, per task, the compute seconds under it."""
    hid = ids[tl.hideable[ids]]
    _, cs, ce = _spans(tl, ids)
    if not len(hid) or not len(cs):
        return hid, np.zeros(len(hid))
    s, e, before = _busy(cs, ce)
    a, b = tl.start_s[hid], tl.end_s[hid]
    return hid, np.clip(_busy_until(b, s, e, before) - _busy_until(a, s, e, before), 0.0, None)


def _overlap(tl: Timeline, ids: np.ndarray) -> np.ndarray:
    """Per compute task of ``ids`` (one stage and step), the seconds of (non-pipeline) communication that ran
    under it, summed over the communication streams (each stream runs one collective at a time)."""
    _, ks, ke = _spans(tl, ids)
    out = np.zeros(len(ks))
    hid = ids[tl.hideable[ids]]
    streams = np.array([tl.graph.tasks[i].stream.value for i in hid.tolist()], dtype=object)
    for stream in set(streams.tolist()):
        on = hid[streams == stream]
        s, e, before = _busy(tl.start_s[on], tl.end_s[on])
        out += np.clip(_busy_until(ke, s, e, before) - _busy_until(ks, s, e, before), 0.0, None)
    return out


def simulate(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
             params: StepModelParams = DEFAULT_PARAMS, *, steps: int = 1, whatif: WhatIf | None = None,
             sustained: bool = True) -> SimResult:
    """Simulate ``steps`` training steps of ``plan``; ValueError with the reason when it cannot run."""
    g = build_graph(arch, plan, cluster, params, steps=steps, whatif=whatif, sustained=sustained)
    tl = run_with_interference(g, params.overlap_interference)
    return SimResult(timeline=tl, step_times_s=_step_times(tl, steps), stages=_summaries(tl, steps))


def run_with_interference(g: StepGraph, k: float) -> Timeline:
    """Two runs of ``g``: the first measures each task's overlap, the second stretches compute kernels and
    communication by ``k`` x that overlap (module docstring)."""
    topo = topology(g)
    first = run(g, topo=topo)
    scale = np.ones(len(g.tasks))
    for st in range(g.steps):
        for s in range(g.stages):
            ids = _ids(first, st, s)
            comp = ids[first.compute[ids]]
            kernel = first.kernel_s[comp]
            scale[comp] = 1.0 + k * np.where(kernel > 0, _overlap(first, ids) / np.maximum(kernel, 1e-30), 0.0)
            hid, under = _comm_overlap(first, ids)
            dur = first.end_s[hid] - first.start_s[hid]
            scale[hid] = 1.0 + k * np.where(dur > 0, under / np.maximum(dur, 1e-30), 0.0)
    return run(g, scale, topo)


def _step_times(tl: Timeline, steps: int) -> tuple[float, ...]:
    ends = [float(tl.end_s[tl.step == k].max()) for k in range(steps)]
    return tuple(b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True))


def _summaries(tl: Timeline, steps: int) -> tuple[StageSummary, ...]:
    """Per stage, the last step split into compute, exposed communication (by axis) and idle."""
    g, k = tl.graph, steps - 1
    out = []
    for stage in range(g.stages):
        ids = _ids(tl, k, stage)
        ids = ids[tl.end_s[ids] > tl.start_s[ids]]
        s, e, before = _kernels(tl, ids)
        window = float(tl.end_s[ids].max() - tl.start_s[ids].min())
        compute = float((e - s).sum())
        comm = ids[~tl.compute[ids]]
        a, b = tl.start_s[comm], tl.end_s[comm]
        outside = np.maximum(0.0, (b - a) - (_busy_until(b, s, e, before) - _busy_until(a, s, e, before)))
        exposed: dict[str, float] = {}
        for i, v in zip(comm.tolist(), outside.tolist(), strict=True):
            c = g.tasks[i].comm
            axis = c.axis.value if c else "other"
            exposed[axis] = exposed.get(axis, 0.0) + v
        communication = _union_outside(tl, comm.tolist(), s, e)
        out.append(StageSummary(stage=stage, rank=g.rank_of(stage), window_s=window, compute_s=compute,
                                exposed_comm_s=exposed, communication_s=communication,
                                idle_s=max(0.0, window - compute - communication)))
    return tuple(out)


def _union_outside(tl: Timeline, ids: list[int], s: np.ndarray, e: np.ndarray) -> float:
    """Length of the union of the intervals ``ids`` minus its part inside the busy intervals (s, e)."""
    if not ids:
        return 0.0
    iv = sorted(zip(tl.start_s[ids], tl.end_s[ids], strict=True))
    merged: list[list[float]] = []
    for a, b in iv:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    ma = np.array([m[0] for m in merged])
    mb = np.array([m[1] for m in merged])
    before = np.concatenate([[0.0], np.cumsum(e - s)[:-1]])
    inside = _busy_until(mb, s, e, before) - _busy_until(ma, s, e, before)
    return float((mb - ma - inside).sum())
