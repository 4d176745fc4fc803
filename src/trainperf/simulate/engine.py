"""The event engine: start and end of every task of a StepGraph.

Each stream of a rank runs its tasks one at a time in the order they were issued (CUDA stream
semantics); a task starts when its stream is free and every task it depends on has ended. Pipeline
transfers are the exception: send and receive run full duplex on their own channels, so they only wait for
their dependencies; a receive is posted earlier (Task.posted_after) and spins from then until the data
has arrived and crossed the link. With no other shared resource the schedule is the longest path through that DAG,
computed in one pass in topological order (Kahn); a cycle (a schedule that would deadlock) is refused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from trainperf.simulate.graph import StepGraph, Stream, TaskKind

UNORDERED = frozenset({Stream.PP})


@dataclass(frozen=True)
class Timeline:
    """Start / end of every task (index = task id), with per-task columns the summaries select on."""

    graph: StepGraph
    start_s: np.ndarray
    end_s: np.ndarray
    stage: np.ndarray
    step: np.ndarray
    compute: np.ndarray
    """Compute tasks (bool)."""
    hideable: np.ndarray
    """Communication on an ordered stream: what can run under compute and interfere with it (bool)."""
    kernel_s: np.ndarray
    """Kernel seconds inside each compute task (the sum of its parts, scaled; 0 for communication)."""
    scale: np.ndarray
    """Factor on each task's duration and kernels in this run."""


@dataclass(frozen=True)
class Topology:
    """What does not change between runs of one graph: a topological order, each task's predecessors
    (dependencies, stream order, a receive's posting point) and the per-task columns."""

    order: list[int]
    preds: list[list[int]]
    base_s: np.ndarray
    post: list[int]
    """Posting point of receives (-2 for every other task, -1 = step 0's start)."""
    stage: np.ndarray
    step: np.ndarray
    compute: np.ndarray
    hideable: np.ndarray
    parts_s: np.ndarray


def topology(graph: StepGraph) -> Topology:
    """The graph's order and predecessors; a cycle (a schedule that would deadlock) is refused."""
    tasks = graph.tasks
    n = len(tasks)
    preds: list[list[int]] = []
    last_on: dict[tuple[int, Stream], int] = {}
    for t in tasks:
        p = set(t.deps)
        if t.kind is TaskKind.RECV and t.posted_after >= 0:
            p.add(t.posted_after)
        if t.stream not in UNORDERED:
            key = (t.stage, t.stream)
            if key in last_on:
                p.add(last_on[key])
            last_on[key] = t.id
        bad = [d for d in p if not 0 <= d < n]
        if bad:
            raise ValueError(f"simulate: task {t.id} ({t.name}) depends on unknown task {bad[0]}")
        preds.append(list(p))
    indeg = [len(p) for p in preds]
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for d in ps:
            succ[d].append(i)
    q = deque(i for i in range(n) if indeg[i] == 0)
    order: list[int] = []
    while q:
        i = q.popleft()
        order.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                q.append(j)
    if len(order) < n:
        stuck = [tasks[i].name for i in range(n) if indeg[i] > 0][:3]
        raise ValueError(f"simulate: the schedule deadlocks ({n - len(order)} tasks wait on each other, e.g. {stuck})")
    base = np.fromiter((t.duration_s for t in tasks), dtype=float, count=n)
    if (base < 0).any() or not np.isfinite(base).all():
        bad_i = int(np.flatnonzero((base < 0) | ~np.isfinite(base))[0])
        raise ValueError(f"simulate: task {bad_i} ({tasks[bad_i].name}) has duration {base[bad_i]}")
    return Topology(
        order=order, preds=preds, base_s=base,
        post=[t.posted_after if t.kind is TaskKind.RECV else -2 for t in tasks],
        stage=np.fromiter((t.stage for t in tasks), dtype=np.int64, count=n),
        step=np.fromiter((t.step for t in tasks), dtype=np.int64, count=n),
        compute=~np.fromiter((t.comm is not None or t.kind is not TaskKind.COMPUTE for t in tasks), dtype=bool,
                             count=n),
        hideable=np.fromiter((t.stream is not Stream.COMPUTE and t.stream not in UNORDERED for t in tasks),
                             dtype=bool, count=n),
        parts_s=np.fromiter((sum(d for _, d in t.parts) for t in tasks), dtype=float, count=n))


def run(graph: StepGraph, scale: np.ndarray | None = None, topo: Topology | None = None) -> Timeline:
    """Start / end seconds of every task (index = task id); ``scale`` multiplies each task's kernels (a task
    with no kernel parts: its whole duration), e.g. the interference slowdown simulate() charges: NCCL
    kernels slow the compute kernels they share the GPU with, not the host time of a layer; ``topo`` reuses
    topology(graph)."""
    tp = topo or topology(graph)
    n = len(graph.tasks)
    scale = np.ones(n) if scale is None else np.asarray(scale, dtype=float)
    stretched = np.where(tp.parts_s > 0, tp.parts_s, tp.base_s)
    dur = (tp.base_s + (scale - 1.0) * stretched).tolist()
    start = [0.0] * n
    end = [0.0] * n
    preds, post = tp.preds, tp.post
    for i in tp.order:
        p = preds[i]
        ready = max([end[d] for d in p]) if p else 0.0
        k = post[i]
        # a receive is posted earlier and spins until the data is there, then takes its transfer time
        start[i] = ready if k == -2 else (end[k] if k >= 0 else 0.0)
        end[i] = ready + dur[i]
    return Timeline(graph, np.array(start), np.array(end), stage=tp.stage, step=tp.step, compute=tp.compute,
                    hideable=tp.hideable, kernel_s=tp.parts_s * scale, scale=scale)
