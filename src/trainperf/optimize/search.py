"""Layout search: the fastest parallel layouts of one job that fit, from the distributed model (no torch).

``search_layouts(arch, space, cluster)`` evaluates every candidate of a SearchSpace with
``parallel.evaluate`` (which checks the memory model before pricing anything) and keeps the top K by
tokens/s/GPU. Nothing is dropped without a count: candidates ParallelPlan refuses, or that evaluate calls
infeasible, are counted by reason, so ``sum(infeasible.values()) == evaluated - feasible``.

The search is exhaustive: what makes it fast is that the costly part, pricing a rank's per-layer op
tables on the GPU, depends only on the per-rank shapes (tp, cp, micro-batch, precision) and is cached
across every layout sharing them (parallel.estimate._layer_times); the rest of a plan is arithmetic.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from trainperf.hardware.cluster import ClusterSpec
from trainperf.optimize.layout_bound import step_lower_bound
from trainperf.optimize.space import SearchSpace, candidates
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.estimate import Infeasible, PlanEstimate, _memory, evaluate
from trainperf.parallel.memory import usable_bytes
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan

# Infeasibility reasons, matched on the messages of ParallelPlan / plan.check / evaluate: a short fixed
# label per mechanism, so counts group across layouts instead of one key per number.
_REASONS = (
    ("GiB per GPU", "memory"),
    ("does not divide n_heads", "tp does not divide heads"),
    ("n_kv_heads", "tp vs kv heads"),
    ("stages exceed", "pp*vp exceeds layers"),
    ("sequence parallel", "seq/cp not divisible by tp"),
    ("tensor cores", "precision not on this GPU"),
    ("exceed cluster", "more GPUs than the cluster"),
    ("moe_experts", "ep does not divide experts"),
    ("has no experts", "ep on a dense model"),
    ("interleaved schedule", "micro-batches not a multiple of pp"),
    ("load-balanced ring", "seq not a multiple of 2*cp"),
    ("etp*ep", "etp*ep does not divide the stage"),
)


def reason_key(msg: str) -> str:
    """The short label of an infeasibility message (the message with numbers removed if none matches)."""
    for needle, label in _REASONS:
        if needle in msg:
            return label
    return re.sub(r"\d+(\.\d+)?", "N", msg.split(";")[0].removeprefix("plan: "))[:60]


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """Top layouts (best first), how many candidates were evaluated and why the others did not run."""

    arch: str
    cluster: str
    gpu: str
    space: SearchSpace
    top: tuple[PlanEstimate, ...]
    evaluated: int
    infeasible: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    hbm_GB: float = 0.0
    """HBM of the cluster's GPU (memory headroom of each layout = usable part - its peak)."""
    priced: int = 0
    """Layouts that fit and were priced in full; the other feasible ones were bounded out (layout_bound)."""

    @property
    def best(self) -> PlanEstimate | None:
        return self.top[0] if self.top else None

    @property
    def feasible(self) -> int:
        return self.evaluated - sum(self.infeasible.values())


def search_layouts(arch: TransformerArch, space: SearchSpace, cluster: ClusterSpec, *, top: int = 5,
                   params: StepModelParams = DEFAULT_PARAMS, sustained: bool = True,
                   prune: bool = True) -> SearchResult:
    """The ``top`` fastest layouts of ``space`` on ``cluster`` by tokens/s/GPU. Every candidate goes through
    the layout checks and the memory model; those that fit are priced in order of a lower bound on their
    step time (optimize/layout_bound.py) until the bound passes the K-th best step found (``prune=False``:
    price every one). Same job for every candidate, so faster step = more tokens/s/GPU."""
    if top < 1:
        raise ValueError(f"search: top = {top} must be >= 1")
    t0 = time.perf_counter()
    bad: dict[str, int] = {}
    n = 0
    gpu = cluster.gpu
    ok_prec = {p for p in ("bf16", "fp16", "fp8", "fp4") if p in ("bf16", "fp16") or gpu.has_precision(p)}
    fits_in = None if cluster.max_gpus and space.gpus > cluster.max_gpus else (usable_bytes(gpu.hbm_capacity_GB), ok_prec)
    fit: list[tuple[float, int, ParallelPlan]] = []
    for cand in candidates(arch, space, cluster):
        n += 1
        if not isinstance(cand, ParallelPlan):
            k = reason_key(cand[1])
            bad[k] = bad.get(k, 0) + 1
            continue
        # evaluate's gates in its order, without formatting the memory message of the (many) plans that
        # do not fit: the count needs the reason's label only
        try:
            cand.check(arch)
        except ValueError as e:
            k = reason_key(str(e))
            bad[k] = bad.get(k, 0) + 1
            continue
        if fits_in is None or cand.precision not in fits_in[1]:
            est0 = evaluate(arch, cand, cluster, params, sustained=sustained)  # the gate says why, in its words
            k = reason_key(est0.reason) if isinstance(est0, Infeasible) else "unexpected"
            bad[k] = bad.get(k, 0) + 1
            continue
        if _memory(arch, cand).total > fits_in[0]:
            bad["memory"] = bad.get("memory", 0) + 1
            continue
        lb = step_lower_bound(arch, cand, cluster, params, sustained=sustained) if prune else 0.0
        fit.append((lb, n, cand))
    fit.sort(key=lambda x: (x[0], x[1]))
    heap: list[tuple[tuple[float, int], int, PlanEstimate]] = []  # min-heap of (-step, -n): worst on top
    priced = 0
    for lb, i, cand in fit:
        if len(heap) == top and lb > -heap[0][0][0]:
            break  # every later bound is larger: none of the rest can enter the top K
        est = evaluate(arch, cand, cluster, params, sustained=sustained)
        priced += 1
        if isinstance(est, Infeasible):  # cannot happen after the gates above; counted, never dropped
            k = reason_key(est.reason)
            bad[k] = bad.get(k, 0) + 1
            continue
        item = ((-est.step_time_s, -i), i, est)
        if len(heap) < top:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    best = tuple(e for _, _, e in sorted(heap, key=lambda x: x[0], reverse=True))
    return SearchResult(arch=arch.name, cluster=cluster.name, gpu=cluster.gpu.name, space=space, top=best,
                        evaluated=n, infeasible=dict(sorted(bad.items(), key=lambda kv: (-kv[1], kv[0]))),
                        elapsed_s=time.perf_counter() - t0, hbm_GB=gpu.hbm_capacity_GB, priced=priced)


def layout_json(est: PlanEstimate) -> dict[str, Any]:
    """One LAYOUT of the fixed search JSON."""
    p = est.plan
    return {"tp": p.tp, "pp": p.pp, "vp": p.vp, "cp": p.cp, "ep": p.ep, "dp": p.dp, "mbs": p.mbs,
            "zero": p.sharding.value, "recompute": p.recompute.value, "precision": p.precision,
            "tokens_per_s_per_gpu": est.tokens_per_s_per_gpu, "step_time_s": est.step_time_s, "mfu": est.mfu,
            "mem_gib": est.memory.total / 2**30,
            # beyond the fixed keys (readers ignore extra ones): what else tells two candidates apart
            "etp": p.etp_eff, "tp_overlap": p.tp_comm_overlap}


def search_json(res: SearchResult) -> dict[str, Any]:
    """The fixed JSON of `trainperf plan --search --json` (other tools read it):
    {"best": LAYOUT, "candidates": [LAYOUT...], "evaluated": n, "infeasible": {reason: count}, "elapsed_s": s}."""
    return {"best": layout_json(res.best) if res.best else None,
            "candidates": [layout_json(e) for e in res.top], "evaluated": res.evaluated,
            "infeasible": res.infeasible, "elapsed_s": res.elapsed_s}


def gap_to_best(est: PlanEstimate, best: PlanEstimate) -> float:
    """How much faster the best layout is: best tokens/s / this layout's - 1."""
    return best.tokens_per_s_per_gpu / est.tokens_per_s_per_gpu - 1.0


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """A faster layout one step away from the user's (or the fastest that fits when theirs does not)."""

    estimate: PlanEstimate
    gain: float
    """tokens/s/GPU of the suggestion / the user's layout's - 1 (inf when the user's does not fit)."""
    changed: str
    """The axes that differ, e.g. 'vp 1 -> 4'."""


FAR_FROM_BEST = 0.10
"""A layout is 'far' from the best when a neighbour is more than 10% faster (then plan suggests it)."""


def _diff(a: ParallelPlan, b: ParallelPlan) -> str:
    names = {"sharding": "zero", "tp_comm_overlap": "tp-overlap", "recompute": "recompute"}
    out = []
    for f in ("tp", "pp", "vp", "cp", "ep", "mbs", "sharding", "recompute", "tp_comm_overlap"):
        x, y = getattr(a, f), getattr(b, f)
        if x != y:
            out.append(f"{names.get(f, f)} {getattr(x, 'value', x)} -> {getattr(y, 'value', y)}")
    if a.dp != b.dp:
        out.append(f"dp {a.dp} -> {b.dp}")
    return ", ".join(out)


def better_neighbour(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
                     current: PlanEstimate | Infeasible, *, params: StepModelParams = DEFAULT_PARAMS,
                     sustained: bool = True, threshold: float = FAR_FROM_BEST) -> Suggestion | None:
    """The fastest layout one step from ``plan`` (space.neighbours) when it beats ``current`` by more than
    ``threshold``, or, when ``current`` is infeasible, the fastest neighbour that fits; None otherwise."""
    from trainperf.optimize.space import neighbours

    best: PlanEstimate | None = None
    for nb in neighbours(plan):
        try:
            nb.check(arch)
        except ValueError:
            continue
        est = evaluate(arch, nb, cluster, params, sustained=sustained)
        if isinstance(est, PlanEstimate) and (best is None or est.tokens_per_s_per_gpu > best.tokens_per_s_per_gpu):
            best = est
    if best is None:
        return None
    if isinstance(current, Infeasible):
        return Suggestion(estimate=best, gain=math.inf, changed=_diff(plan, best.plan))
    gain = best.tokens_per_s_per_gpu / current.tokens_per_s_per_gpu - 1.0
    return Suggestion(estimate=best, gain=gain, changed=_diff(current.plan, best.plan)) if gain > threshold else None
