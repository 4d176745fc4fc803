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
from trainperf.simulate.engine import UNORDERED, Timeline, run
from trainperf.simulate.graph import Stream, TaskKind


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


def _kernels(tl: Timeline, ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Busy intervals of the compute kernels of tasks ``ids`` (a compute task runs its kernels first, then
    waits out its host share)."""
    g = tl.graph
    comp = [i for i in ids if g.tasks[i].kind is TaskKind.COMPUTE]
    k = np.array([sum(t for _, t in g.tasks[i].parts) for i in comp])
    st = tl.start_s[comp] if comp else np.zeros(0)
    return _busy(st, st + np.minimum(k, tl.end_s[comp] - st) if comp else np.zeros(0))


def _ids(tl: Timeline, step: int, stage: int) -> list[int]:
    return [t.id for t in tl.graph.tasks if t.stage == stage and t.step == step]


def _overlap(tl: Timeline, step: int, stage: int) -> float:
    """Seconds of (non-pipeline) communication that ran under this stage's compute kernels in ``step``."""
    g = tl.graph
    ids = _ids(tl, step, stage)
    s, e, before = _kernels(tl, ids)
    hid = [i for i in ids if g.tasks[i].stream is not Stream.COMPUTE and g.tasks[i].stream not in UNORDERED]
    if not hid or not len(s):
        return 0.0
    a, b = tl.start_s[hid], tl.end_s[hid]
    return float(np.clip(_busy_until(b, s, e, before) - _busy_until(a, s, e, before), 0.0, None).sum())


def simulate(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
             params: StepModelParams = DEFAULT_PARAMS, *, steps: int = 1, whatif: WhatIf | None = None,
             sustained: bool = True) -> SimResult:
    """Simulate ``steps`` training steps of ``plan``; ValueError with the reason when it cannot run."""
    g = build_graph(arch, plan, cluster, params, steps=steps, whatif=whatif, sustained=sustained)
    first = run(g)
    slow = {}
    for st in range(steps):
        for s in range(plan.pp):
            busy = _kernels(first, _ids(first, st, s))
            kernel_s = float((busy[1] - busy[0]).sum())
            slow[(st, s)] = 1.0 + params.overlap_interference * _overlap(first, st, s) / max(kernel_s, 1e-30)
    tl = run(build_graph(arch, plan, cluster, params, steps=steps, whatif=whatif, sustained=sustained,
                         slowdown=slow))
    return SimResult(timeline=tl, step_times_s=_step_times(tl, steps), stages=_summaries(tl, steps))


def _step_times(tl: Timeline, steps: int) -> tuple[float, ...]:
    step_of = np.fromiter((t.step for t in tl.graph.tasks), dtype=np.int64, count=len(tl.graph.tasks))
    ends = [float(tl.end_s[step_of == k].max()) for k in range(steps)]
    return tuple(b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True))


def _summaries(tl: Timeline, steps: int) -> tuple[StageSummary, ...]:
    """Per stage, the last step split into compute, exposed communication (by axis) and idle."""
    g, k = tl.graph, steps - 1
    out = []
    for stage in range(g.stages):
        ids = [i for i in _ids(tl, k, stage) if tl.end_s[i] > tl.start_s[i]]
        s, e, before = _kernels(tl, ids)
        window = float(tl.end_s[ids].max() - tl.start_s[ids].min())
        compute = float((e - s).sum())
        comm = [i for i in ids if g.tasks[i].kind is not TaskKind.COMPUTE]
        exposed: dict[str, float] = {}
        for i in comm:
            t = g.tasks[i]
            a, b = np.array([tl.start_s[i]]), np.array([tl.end_s[i]])
            ov = float((_busy_until(b, s, e, before) - _busy_until(a, s, e, before))[0])
            axis = t.comm.axis.value if t.comm else "other"
            exposed[axis] = exposed.get(axis, 0.0) + max(0.0, float(b[0] - a[0]) - ov)
        communication = _union_outside(tl, comm, s, e)
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
