"""Simulator vs the analytic model on the published runs, and simulation time as the job grows.

    python benchmarks/bench_simulate.py [--limit N] [--out benchmarks/results/simulate.txt]

Part 1: for every published row the analytic model can run (the layout `trainperf validate` evaluates),
simulate one step at that layout: the ratio simulated / analytic step time, and both models' |error| of
tokens/s/GPU against the measurement (measured_tokens as validate reads it), by split (fit / holdout).
Part 2: Llama 3.1 405B, tp=8 pp=16 vp=2, from 128 to 16,384 GPUs (global batch grows with dp): tasks and
wall-clock seconds to build and run the simulation (symmetric ranks are simulated once per stage).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from trainperf.data import PUBLISHED_CSV
from trainperf.parallel.api import plan_from_args
from trainperf.parallel.estimate import PlanEstimate
from trainperf.parallel.params import DEFAULT_PARAMS
from trainperf.simulate.api import simulate
from trainperf.validation.published import Unsupported, measured_tokens, row_setup, source_family
from trainperf.validation.validate import FIT_SOURCES, _first_feasible, read_rows


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def published(limit: int | None) -> list[str]:
    rows = read_rows(PUBLISHED_CSV)[:limit]
    recs = []
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        try:
            setup = row_setup(row)
        except (Unsupported, ValueError, KeyError):
            continue
        est = _first_feasible(setup, DEFAULT_PARAMS)
        if not isinstance(est, PlanEstimate):
            continue
        meas, _ = measured_tokens(row, setup.arch)
        sim = simulate(setup.arch, est.plan, setup.cluster, steps=1)
        tok_sim = est.plan.tokens_per_step / est.plan.gpus / sim.step_time_s
        split = "fit" if source_family(str(row["id"])) in FIT_SOURCES else "holdout"
        recs.append((split, sim.step_time_s / est.step_time_s, meas, est.tokens_per_s_per_gpu, tok_sim))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(rows)} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out = [f"published rows simulated: {len(recs)} of {len(rows)} ({time.perf_counter() - t0:.0f} s)", "",
           "split    rows  sim/plan median  p10    p90    |sim/plan-1|<=3%  plan |err| med/p90  sim |err| med/p90"]
    for split in ("fit", "holdout", "all"):
        r = [x for x in recs if split in ("all", x[0])]
        if not r:
            continue
        ratio = [x[1] for x in r]
        ep = [abs(x[3] / x[2] - 1) for x in r if x[2]]
        es = [abs(x[4] / x[2] - 1) for x in r if x[2]]
        within = sum(abs(x - 1) <= 0.03 for x in ratio) / max(len(ratio), 1)
        out.append(f"{split:<7} {len(r):>5}  {statistics.median(ratio):>15.3f}  {_pct(ratio, .1):.3f}  "
                   f"{_pct(ratio, .9):.3f}  {within:>16.0%}  {statistics.median(ep):>8.1%} / {_pct(ep, .9):.1%}"
                   f"  {statistics.median(es):>8.1%} / {_pct(es, .9):.1%}")
    return out


def scaling() -> list[str]:
    out = ["", "Llama 3.1 405B tp=8 pp=16 vp=2 mbs=1 seq 8192, gbs = 16 x dp: simulation time as the job grows",
           "gpus    dp   gbs  tasks  simulate s  step s"]
    for gpus in (128, 1024, 4096, 16384):
        dp = gpus // 128
        req = plan_from_args("llama3.1-405b", gpus=gpus, tp=8, pp=16, vp=2, gbs=max(16 * dp, 32), seq=8192,
                             recompute="full")
        t = time.perf_counter()
        res = simulate(req.arch, req.plan, req.cluster, steps=1)
        out.append(f"{gpus:>5} {dp:>5} {req.plan.gbs:>5} {len(res.timeline.graph.tasks):>6} "
                   f"{time.perf_counter() - t:>11.2f} {res.step_time_s:>7.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N published rows only")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    a = ap.parse_args()
    lines = published(a.limit) + scaling()
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
