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


def run(graph: StepGraph, scale: np.ndarray | None = None) -> Timeline:
    """Start / end seconds of every task (index = task id); ``scale`` multiplies each task's duration (and
    its kernels), e.g. the interference slowdown simulate() charges."""
    tasks = graph.tasks
    n = len(tasks)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = np.zeros(n, dtype=np.int64)
    last_on: dict[tuple[int, Stream], int] = {}
    for t in tasks:
        preds = list(t.deps)
        if t.kind is TaskKind.RECV and t.posted_after >= 0:
            preds.append(t.posted_after)
        if t.stream not in UNORDERED:
            key = (t.stage, t.stream)
            if key in last_on:
                preds.append(last_on[key])
            last_on[key] = t.id
        for d in set(preds):
            if not 0 <= d < n:
                raise ValueError(f"simulate: task {t.id} ({t.name}) depends on unknown task {d}")
            succ[d].append(t.id)
            indeg[t.id] += 1
    ready = np.zeros(n)
    start = np.zeros(n)
    end = np.zeros(n)
    dur = np.fromiter((t.duration_s for t in tasks), dtype=float, count=n)
    scale = np.ones(n) if scale is None else np.asarray(scale, dtype=float)
    dur = dur * scale
    if (dur < 0).any() or not np.isfinite(dur).all():
        bad = int(np.flatnonzero((dur < 0) | ~np.isfinite(dur))[0])
        raise ValueError(f"simulate: task {bad} ({tasks[bad].name}) has duration {dur[bad]}")
    recv = np.fromiter((t.kind is TaskKind.RECV for t in tasks), dtype=bool, count=n)
    post = np.fromiter((t.posted_after for t in tasks), dtype=np.int64, count=n)
    q = deque(int(i) for i in np.flatnonzero(indeg == 0))
    done = 0
    while q:
        i = q.popleft()
        done += 1
        if recv[i]:  # posted earlier, spins until the data is there, then takes its transfer time
            start[i] = end[post[i]] if post[i] >= 0 else 0.0
        else:
            start[i] = ready[i]
        end[i] = ready[i] + dur[i]
        e = end[i]
        for j in succ[i]:
            if e > ready[j]:
                ready[j] = e
            indeg[j] -= 1
            if indeg[j] == 0:
                q.append(j)
    if done < n:
        stuck = [tasks[int(i)].name for i in np.flatnonzero(indeg > 0)[:3]]
        raise ValueError(f"simulate: the schedule deadlocks ({n - done} tasks wait on each other, e.g. {stuck})")
    return Timeline(graph, start, end,
                    stage=np.fromiter((t.stage for t in tasks), dtype=np.int64, count=n),
                    step=np.fromiter((t.step for t in tasks), dtype=np.int64, count=n),
                    compute=~np.fromiter((t.comm is not None or t.kind is not TaskKind.COMPUTE for t in tasks),
                                         dtype=bool, count=n),
                    hideable=np.fromiter((t.stream is not Stream.COMPUTE and t.stream not in UNORDERED for t in tasks),
                                         dtype=bool, count=n),
                    kernel_s=np.fromiter((sum(d for _, d in t.parts) for t in tasks), dtype=float, count=n) * scale,
                    scale=scale)
