"""Speed of plan evaluation: plans/s over a layout sweep of Llama 3.1 405B on DGX H100 (no torch).

Prints the rate with cold per-shape caches (each new shard shape builds and prices its per-rank op
tables) and warm (shapes seen before), and the time of one plan. Target: <= 2 ms per plan once captured.
"""

from __future__ import annotations

import itertools
import time

from trainperf.hardware.cluster import get_cluster
from trainperf.parallel import ParallelPlan, PlanEstimate, TransformerArch, evaluate

ARCH = TransformerArch(name="llama3.1-405b", n_layers=126, hidden=16384, ffn_hidden=53248, n_heads=128,
                       n_kv_heads=8, vocab=128256)


def plans() -> list[ParallelPlan]:
    out = []
    for tp, pp, cp, mbs, rc in itertools.product((4, 8), (8, 16), (1, 2), (1, 2), ("none", "selective", "full")):
        try:
            out.append(ParallelPlan(gpus=16384, tp=tp, pp=pp, cp=cp, mbs=mbs, gbs=2048, seq=8192, recompute=rc))
        except ValueError:
            continue
    return out


def main() -> None:
    cluster = get_cluster("dgx-h100")
    ps = plans()
    t0 = time.perf_counter()
    res = [evaluate(ARCH, p, cluster) for p in ps]
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(5):
        for p in ps:
            evaluate(ARCH, p, cluster)
    warm = (time.perf_counter() - t0) / 5
    ok = [r for r in res if isinstance(r, PlanEstimate)]
    best = max(ok, key=lambda r: r.tokens_per_s_per_gpu) if ok else None
    print(f"{len(ps)} plans ({len(ok)} feasible)")
    print(f"cold caches: {len(ps) / cold:8.0f} plans/s  ({1e3 * cold / len(ps):.2f} ms/plan)")
    print(f"warm caches: {len(ps) / warm:8.0f} plans/s  ({1e3 * warm / len(ps):.3f} ms/plan)")
    if best:
        print(f"fastest: {best.plan.describe()}  {best.tokens_per_s_per_gpu:.0f} tokens/s/GPU, MFU {best.mfu:.1%}")


if __name__ == "__main__":
    main()
