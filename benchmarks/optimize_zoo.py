"""Run `trainperf optimize` on several zoo workloads and write one JSON per workload plus a summary table.

On a CUDA machine (the first session lent one):
    HF_HUB_OFFLINE=1 python benchmarks/optimize_zoo.py --device cuda --flavor full --budget-s 60 \
        -o benchmarks/results/optimize_<gpu>_<date>
On CPU (tiny flavors, eager candidates only when the budget is below the compile prior):
    HF_HUB_OFFLINE=1 python benchmarks/optimize_zoo.py --budget-s 15 -o /tmp/optimize_cpu
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WORKLOADS = ("gpt2-124m", "llama3.2-1b", "qwen3-8b", "bert-base", "vit-b16", "resnet50", "convnext-base",
             "mobilenetv2", "t5-large", "whisper-large-v3")


def main() -> None:
    import orjson

    from trainperf.optimize.device import OptimizeConfig, optimize_device

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--flavor", default="tiny")
    ap.add_argument("--budget-s", type=float, default=60.0, help="per workload")
    ap.add_argument("-o", "--out", type=Path, required=True, help="results folder")
    ap.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in a.workloads:
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            res = optimize_device(name, OptimizeConfig(flavor=a.flavor, device=a.device, budget_s=a.budget_s),
                                  progress=lambda s: print(s, file=sys.stderr, flush=True))
        except Exception as e:  # a workload that cannot run here is a row, not the end of the sweep
            rows.append((name, "-", "-", "-", "-", f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"))
            continue
        (a.out / f"{name}.json").write_bytes(orjson.dumps(res.to_dict(), option=orjson.OPT_INDENT_2))
        n_ok = sum(c.status.value == "ok" for c in res.candidates)
        b = res.best
        rows.append((name, f"{res.baseline.measured_step_s * 1e3:.2f}", b.knobs.label(),
                     f"{b.measured_speedup:.2f}", "-" if b.predicted_speedup is None else f"{b.predicted_speedup:.2f}",
                     f"{n_ok} ok / {len(res.candidates)}, {res.elapsed_s:.0f} s"))
    head = ("workload", "baseline ms", "best", "measured x", "predicted x", "candidates")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    (a.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
