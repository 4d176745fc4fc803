"""Where the tasks of a study run: this process, local worker processes (the default), or Ray tasks.

Every backend takes the same picklable Tasks (study/sweep.py) and returns the rows in task order, so a
study's table does not depend on the backend or on the number of workers. Ray is an optional extra
(`pip install 'trainperf[ray]'`), imported only when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from trainperf.study.sweep import Task, run_task

Progress = Callable[[int, int], None]
"""progress(points done, points in all)."""


class Backend(StrEnum):
    LOCAL = "local"
    """concurrent.futures process pool on this machine (--workers processes; 0 = in this process)."""
    RAY = "ray"
    """One Ray task per task: a local Ray instance of --workers CPUs, or the cluster at --address."""


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_tasks(tasks: list[Task], *, backend: Backend = Backend.LOCAL, workers: int | None = None,
              address: str | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """The rows of every task, in task order."""
    if workers is not None and not 0 <= workers <= 1024:
        raise ValueError(f"--workers {workers}: must be in 0..1024 (0 = in this process)")
    if address is not None and backend is not Backend.RAY:
        raise ValueError("--address applies to --backend ray only")
    if backend is Backend.RAY:
        if address is not None and workers is not None:
            raise ValueError("--workers sizes a local Ray instance; a Ray cluster at --address has its own workers")
        return _ray(tasks, workers=workers, address=address, progress=progress)
    return _local(tasks, workers=default_workers() if workers is None else workers, progress=progress)


def _local(tasks: list[Task], *, workers: int, progress: Progress | None) -> list[dict[str, Any]]:
    total = sum(len(t.points) for t in tasks)
    done = 0
    results: list[list[dict[str, Any]] | None] = [None] * len(tasks)
    if workers == 0 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            results[i] = run_task(t)
            done += len(t.points)
            if progress:
                progress(done, total)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # forkserver/spawn, not fork: a forked child of a process holding threads (polars, Ray) can deadlock
        ctx = mp.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
            futs = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
            for f in as_completed(futs):
                i = futs[f]
                results[i] = f.result()
                done += len(tasks[i].points)
                if progress:
                    progress(done, total)
    return [r for rows in results for r in (rows or [])]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'trainperf[ray]'") from None
    return ray


def _ray(tasks: list[Task], *, workers: int | None, address: str | None,
         progress: Progress | None) -> list[dict[str, Any]]:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if address is not None:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or default_workers(), include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at --address {address}" if address else "locally"
            raise ValueError(f"--backend ray: cannot start or reach Ray {where} ({str(e).splitlines()[0]})") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        refs = [remote.remote(t) for t in tasks]
        index = {r: i for i, r in enumerate(refs)}
        results: list[list[dict[str, Any]] | None] = [None] * len(tasks)
        total, done, pending = sum(len(t.points) for t in tasks), 0, list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                i = index[r]
                results[i] = ray.get(r)
                done += len(tasks[i].points)
                if progress:
                    progress(done, total)
        return [row for rows in results for row in (rows or [])]
    finally:
        if started:
            ray.shutdown()
