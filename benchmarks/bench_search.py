"""Speed of the layout search and of `trainperf plan`, as whole processes (issue 11 targets).

- one layout of Llama 3.1 405B on 16,384 H100s: target <= 0.3 s whole process;
- the whole search space of the same job (gbs 2048, seq 8192): target <= 2 s whole process;
- warm search rate in plans/s (candidates through the memory model per second, in process; goal 50,000).

Each whole-process figure is the median of 3 runs of `python -m trainperf` (every run prices its op tables
afresh: nothing persists between processes). In process: cold (first search) and warm (per-layer op
times already priced) for four jobs, MoE ones with spaces up to 20x larger.

    python benchmarks/bench_search.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

PLAN = ["plan", "llama3.1-405b", "--cluster", "dgx-h100", "--gpus", "16384", "--gbs", "2048", "--seq", "8192"]
ONE = [*PLAN, "--tp", "8", "--pp", "16", "--json"]
SEARCH = [*PLAN, "--search", "--json"]


def _wall(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trainperf", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def whole_process() -> None:
    for name, args in (("one layout", ONE), ("405B search", SEARCH)):
        runs = [_wall(args, dict(os.environ)) for _ in range(3)]
        print(f"{name:12}: {statistics.median(runs):.2f} s whole process (median of 3; {min(runs):.2f} s fastest)")


def in_process() -> None:
    from trainperf.hardware.cluster import get_cluster
    from trainperf.optimize.search import search_layouts
    from trainperf.optimize.space import SearchSpace
    from trainperf.parallel.zoo_arch import arch_from_workload

    jobs = [("llama3.1-405b", "dgx-h100", 16384, 2048, 8192, "bf16"),
            ("llama3.1-70b", "dgx-h100", 1024, 512, 8192, "auto"),
            ("qwen3-30b-a3b", "dgx-h100", 16, 1024, 4096, "fp8"),
            ("deepseek-v3-671b", "gb200-nvl72", 256, 4096, 4096, "fp8")]
    print(f"\n{'job':42} {'candidates':>10} {'fit':>8} {'priced':>7} {'cold s':>7} {'warm s':>7} {'warm plans/s':>12}")
    for model, cl, g, gbs, seq, prec in jobs:
        arch, c = arch_from_workload(model), get_cluster(cl)
        sp = SearchSpace(gpus=g, gbs=gbs, seq=seq, precision=prec, base=(("fused_kernels", True),))
        cold = search_layouts(arch, sp, c)
        warm = search_layouts(arch, sp, c)
        assert warm.best is not None and cold.best is not None and warm.best.plan == cold.best.plan
        print(f"{f'{model} {g} x {c.gpu.name} {prec}':42} {warm.evaluated:>10,} {warm.feasible:>8,} "
              f"{warm.priced:>7,} {cold.elapsed_s:>7.2f} {warm.elapsed_s:>7.2f} "
              f"{warm.evaluated / warm.elapsed_s:>12,.0f}")


if __name__ == "__main__":
    whole_process()
    in_process()
