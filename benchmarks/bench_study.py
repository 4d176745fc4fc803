"""Throughput of `trainperf study`: points/s on the local process pool and on Ray, 1 and 2 workers.

The study: Llama 3.1 8B and 70B, each on 8 and 64 GPUs of dgx-h100 (gbs 256, seq 8192), hbm_bw x bf16 x
net_bw at 1 and 2 (4 jobs x 8 points = 32 rows). Each point is a full layout search on that point's hardware. Times
are wall-clock of `run_study` in this process, including pool or Ray start-up (Ray: `ray.init` of a
local instance with that many CPUs), the median of ``--repeat`` runs. The tables of every run must be
equal (the backend and the worker count never change the result); the benchmark checks it.

    python benchmarks/bench_study.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

VARY = ("hbm_bw=1,2", "bf16=1,2", "net_bw=1,2")
JOBS = "llama3.1-[78]*b"


def one(backend: str, workers: int) -> tuple[float, int, object]:
    from trainperf.study import run_study
    from trainperf.study.backends import Backend

    t0 = time.perf_counter()
    res = run_study(JOBS, vary=VARY, gpus=(8, 64), backend=Backend(backend), workers=workers)
    return time.perf_counter() - t0, res.table.height, res.table.drop("search_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch

    print(f"# benchmarks/bench_study.py, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, torch {torch.__version__}")
    print(f"# study: {JOBS} on 8 and 64 GPUs, --vary {' '.join(VARY)}; median of {args.repeat} runs\n")
    print(f"{'backend':8} {'workers':>7} {'rows':>5} {'wall s':>7} {'points/s':>9}  tables equal")
    ref = None
    configs = [("local", 0), ("local", 1), ("local", 2)]
    try:
        import ray  # noqa: F401

        configs += [("ray", 1), ("ray", 2)]
    except ImportError:
        print("(ray not installed: pip install 'trainperf[ray]' to include it)")
    for backend, workers in configs:
        runs = [one(backend, workers) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        rows = runs[0][1]
        table = runs[0][2]
        ref = table if ref is None else ref
        same = all(r[2].equals(ref) for r in runs)  # type: ignore[attr-defined]
        print(f"{backend:8} {workers:>7} {rows:>5} {wall:>7.2f} {rows / wall:>9.2f}  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
