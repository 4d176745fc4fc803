"""simulate(): build the task graph of a plan, run the event engine, charge interference, summarize.

Interference (StepModelParams.overlap_interference: NCCL kernels take SMs and HBM bandwidth from the
compute they overlap) is charged as the analytic model charges it, but on the overlap the timeline
actually shows: a first run measures, per step and stage, the seconds of communication that ran under
that stage's compute kernels; a second run slows that stage's kernels in that step by
interference x overlap / kernel time, so the charge shows as longer kernels, as on a real GPU.
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


def _overlap(tl: Timeline, step: int, stage: int) -> float:
    """Seconds of (non-pipeline) communication that ran under this stage's compute kernels in ``step``."""
    ids = _ids(tl, step, stage)
    s, e, before = _kernels(tl, ids)
    hid = ids[tl.hideable[ids]]
    if not len(hid) or not len(s):
        return 0.0
    a, b = tl.start_s[hid], tl.end_s[hid]
    return float(np.clip(_busy_until(b, s, e, before) - _busy_until(a, s, e, before), 0.0, None).sum())


def simulate(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
             params: StepModelParams = DEFAULT_PARAMS, *, steps: int = 1, whatif: WhatIf | None = None,
             sustained: bool = True) -> SimResult:
    """Simulate ``steps`` training steps of ``plan``; ValueError with the reason when it cannot run."""
    g = build_graph(arch, plan, cluster, params, steps=steps, whatif=whatif, sustained=sustained)
    topo = topology(g)
    first = run(g, topo=topo)
    scale = np.ones(len(g.tasks))
    for st in range(steps):
        for s in range(plan.pp):
            ids = _ids(first, st, s)
            busy = _kernels(first, ids)
            kernel_s = float((busy[1] - busy[0]).sum())
            comp = ids[first.compute[ids]]
            scale[comp] = 1.0 + params.overlap_interference * _overlap(first, st, s) / max(kernel_s, 1e-30)
    tl = run(g, scale, topo)
    return SimResult(timeline=tl, step_times_s=_step_times(tl, steps), stages=_summaries(tl, steps))


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
