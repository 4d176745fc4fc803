"""Capture speed and memory: the full Llama 3 405B step at seq 8192, and the whole zoo at full size.

The 405B headline runs in a fresh subprocess, so its wall time includes every import (torch,
transformers) and its peak RSS is the process's own. The zoo runs in one subprocess, one capture after
another, as `trainperf` would sweep it (imports paid once).
Targets: 405B in <= 10 s wall and <= 2 GiB peak RSS (issue 2); the whole zoo in <= 240 s (issue 13, 60+ workloads).
Run: python benchmarks/bench_capture.py [--only NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from trainperf.capture import capture_workload
from trainperf.workloads import Size
seq = sys.argv[1]
for name in sys.argv[2:]:
    size = Size(seq=int(seq)) if seq != "-" else None
    t1 = time.perf_counter()
    try:
        g = capture_workload(name, "full", size)
        ok, err = True, ""
        ops, flops, params = g.ops.height, float(g.ops["flops"].sum()), g.meta.n_params
        unc = float(g.ops.filter(~g.ops["covered"]).height) / max(g.ops.height, 1)
    except Exception as e:  # report, do not crash the benchmark
        ok, err, ops, flops, params, unc = False, f"{type(e).__name__}: {e}"[:120], 0, 0.0, 0, 0.0
    print(json.dumps({"name": name, "ok": ok, "err": err, "wall_s": time.perf_counter() - t1, "ops": ops,
                      "flops": flops, "params": params, "uncovered_share": unc,
                      "process_wall_s": time.perf_counter() - t0,
                      "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}), flush=True)
"""


def run(names: list[str], seq: int | None = None) -> list[dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, str(seq) if seq else "-", *names], capture_output=True,
                       text=True, env=env)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if len(rows) < len(names):  # the process died: report what is missing
        err = (p.stderr.strip().splitlines() or ["no output"])[-1][:120]
        done = {r["name"] for r in rows}
        rows += [{"name": n, "ok": False, "err": err, "wall_s": 0.0, "ops": 0, "flops": 0.0, "params": 0,
                  "rss_gib": 0.0, "uncovered_share": 0.0, "process_wall_s": wall} for n in names if n not in done]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="workload names (default: 405B headline + whole zoo)")
    ap.add_argument("--json", help="write results as JSON here")
    args = ap.parse_args()
    from trainperf.workloads import list_workloads

    head = run(["llama3.1-405b"], 8192)[0] | {"name": "llama3.1-405b @8192 (headline)"}
    names = args.only or [w.name for w in list_workloads() if w.fake_ok]
    t0 = time.perf_counter()
    zoo = run(names)
    zoo_wall = time.perf_counter() - t0
    rows = [head, *zoo]
    print(f"{'workload':40s} {'ok':>3s} {'wall s':>7s} {'RSS GiB':>8s} {'ops':>7s} {'params':>10s} {'TFLOP/step':>11s} {'uncov':>6s}")
    for r in rows:
        print(f"{r['name'][:40]:40s} {'yes' if r['ok'] else 'NO':>3s} {r['wall_s']:7.2f} {r['rss_gib']:8.2f} "
              f"{r['ops']:7d} {r['params'] / 1e9:9.3f}B {r['flops'] / 1e12:11.2f} {100 * r['uncovered_share']:5.1f}%"
              + ("" if r["ok"] else f"  {r['err']}"))
    print(f"\n405B @ seq 8192: {head['process_wall_s']:.2f} s wall (target <= 10 s), "
          f"{head['rss_gib']:.2f} GiB peak RSS (target <= 2 GiB)")
    print(f"whole zoo ({len(names)} fake-traceable workloads, one process, imports included): {zoo_wall:.1f} s (target <= 240 s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "zoo_wall_s": zoo_wall}, f, indent=2)


if __name__ == "__main__":
    main()
