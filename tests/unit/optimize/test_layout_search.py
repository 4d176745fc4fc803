"""Layout search: the exhaustive best, every candidate accounted for, the axes it covers."""

import dataclasses
import itertools

import pytest

from trainperf.hardware.cluster import get_cluster
from trainperf.optimize.search import better_neighbour, reason_key, search_layouts
from trainperf.optimize.space import SearchSpace, axes, candidates, neighbours
from trainperf.parallel import Infeasible, ParallelPlan, PlanEstimate, TransformerArch, evaluate
from trainperf.parallel.zoo_arch import arch_from_workload

SMALL = TransformerArch(name="small-1b", n_layers=16, hidden=2048, ffn_hidden=8192, n_heads=32, n_kv_heads=8,
                        vocab=128256)
MOE = TransformerArch(name="small-moe", n_layers=8, hidden=2048, ffn_hidden=0, n_heads=16, n_kv_heads=4,
                      vocab=32000, moe_experts=8, moe_topk=2, moe_ffn_hidden=2048)


def _brute_force(arch: TransformerArch, space: SearchSpace, cluster_name: str) -> tuple[list[PlanEstimate], int]:
    """Every combination of the axis values, built and evaluated one by one (independent of candidates())."""
    c = get_cluster(cluster_name)
    ax = axes(arch, space, c)
    ok, n = [], 0
    for tp, pp, vp, cp, ep, etp, mbs, z, rc, prec, ov in itertools.product(
            ax["tp"], ax["pp"], ax["vp"], ax["cp"], ax["ep"], ax["etp"], ax["mbs"], ax["zero"], ax["recompute"],
            ax["precision"], ax["tp_overlap"]):
        try:
            p = ParallelPlan(gpus=space.gpus, tp=tp, pp=pp, vp=vp, cp=cp, ep=ep, etp=etp, mbs=mbs, gbs=space.gbs,
                             seq=space.seq, sharding=z, recompute=rc, precision=prec, tp_comm_overlap=ov)
        except ValueError:
            continue
        n += 1
        est = evaluate(arch, p, c)
        if isinstance(est, PlanEstimate):
            ok.append(est)
    return ok, n


@pytest.mark.parametrize(("arch", "space", "cluster"), [
    (SMALL, SearchSpace(gpus=16, gbs=32, seq=4096, vp=(1, 2)), "dgx-h100"),
    (SMALL, SearchSpace(gpus=8, gbs=16, seq=8192, precision="auto", vp=(1,)), "dgx-h100"),
    (MOE, SearchSpace(gpus=16, gbs=32, seq=2048, vp=(1,), pp=(1, 2), tp_overlap=(True,)), "dgx-a100"),
])
def test_search_returns_the_exhaustive_best(arch: TransformerArch, space: SearchSpace, cluster: str) -> None:
    res = search_layouts(arch, space, get_cluster(cluster), top=3)
    ok, _ = _brute_force(arch, space, cluster)
    assert ok and res.best is not None
    best = max(ok, key=lambda e: e.tokens_per_s_per_gpu)
    assert res.best.tokens_per_s_per_gpu == best.tokens_per_s_per_gpu
    # the search runs every distinct feasible combination once: TP overlap means nothing at tp = 1 and
    # etp = tp is etp = 0, so those duplicates are folded
    distinct = {dataclasses.replace(e.plan, tp_comm_overlap=e.plan.tp_comm_overlap and e.plan.tp > 1,
                                    etp=0 if e.plan.etp == e.plan.tp else e.plan.etp) for e in ok}
    assert res.feasible == len(distinct)
    tops = [e.tokens_per_s_per_gpu for e in res.top]
    assert tops == sorted(tops, reverse=True) and len(tops) == 3
    # pruning by the step-time lower bound returns the exhaustive top 3, layout for layout
    full = search_layouts(arch, space, get_cluster(cluster), top=3, prune=False)
    assert [e.plan for e in full.top] == [e.plan for e in res.top]
    assert full.priced == full.feasible and res.priced < res.feasible


def test_bound_is_below_every_step_time() -> None:
    from trainperf.optimize.layout_bound import step_lower_bound
    from trainperf.parallel import DEFAULT_PARAMS

    for arch, space, name in [(SMALL, SearchSpace(gpus=16, gbs=32, seq=4096), "dgx-h100"),
                              (MOE, SearchSpace(gpus=16, gbs=32, seq=2048, pp=(1, 2)), "dgx-a100")]:
        c = get_cluster(name)
        n = 0
        for p in candidates(arch, space, c):
            if isinstance(p, ParallelPlan) and (n := n + 1) % 7 == 0:
                est = evaluate(arch, p, c)
                if isinstance(est, PlanEstimate):
                    assert step_lower_bound(arch, p, c, DEFAULT_PARAMS) <= est.step_time_s


def test_infeasible_counts_add_up_and_name_the_reason() -> None:
    c = get_cluster("dgx-h100")
    arch = arch_from_workload("llama3.1-70b")
    space = SearchSpace(gpus=64, gbs=64, seq=8192)
    res = search_layouts(arch, space, c)
    n = sum(1 for _ in candidates(arch, space, c))
    assert res.evaluated == n
    assert sum(res.infeasible.values()) == res.evaluated - res.feasible
    assert res.infeasible["memory"] > 0 and res.feasible > 0
    # a GPU with a tenth of the memory fits nothing: every candidate is counted, none dropped
    tiny = c.with_gpu(c.gpu.scaled("H100 at 8 GB", hbm_capacity=0.1))
    res = search_layouts(arch, space, tiny)
    assert res.best is None and res.feasible == 0 and sum(res.infeasible.values()) == res.evaluated == n


def test_axes_cover_the_issue_list() -> None:
    c = get_cluster("dgx-h100")
    ax = axes(MOE, SearchSpace(gpus=64, gbs=64, seq=8192, precision="auto"), c)
    assert ax["tp"] == (1, 2, 4, 8)  # divisors of 16 heads up to the 8-GPU NVLink domain
    assert ax["ep"] == (1, 2, 4, 8) and ax["etp"] == (0, 1)
    assert ax["cp"] == (1, 2, 4, 8)  # >= 1,024 tokens per cp rank
    assert ax["precision"] == ("bf16", "fp8")
    assert set(ax["zero"]) == {"ddp", "zero1", "zero2", "zero3"}
    assert set(ax["recompute"]) == {"none", "selective", "full"} and set(ax["tp_overlap"]) == {False, True}
    a100 = axes(SMALL, SearchSpace(gpus=8, gbs=8, seq=2048, precision="auto"), get_cluster("dgx-a100"))
    assert a100["precision"] == ("bf16",)  # no fp8 tensor cores on A100


def test_fixed_axes_stay_fixed() -> None:
    res = search_layouts(SMALL, SearchSpace(gpus=16, gbs=32, seq=4096, tp=(2,), mbs=(1,)), get_cluster("dgx-h100"))
    assert res.top and all(e.plan.tp == 2 and e.plan.mbs == 1 for e in res.top)


def test_reason_labels() -> None:
    assert reason_key("needs 95.1 GiB per GPU > 78.4 GiB usable on H100-SXM (...); raise tp") == "memory"
    assert reason_key("plan: tp = 3 does not divide n_heads = 32 of x") == "tp does not divide heads"
    assert reason_key("plan: something new = 7") == "something new = N"


def test_neighbours_are_one_step_away() -> None:
    p = ParallelPlan(gpus=64, tp=4, pp=4, mbs=2, gbs=64, seq=4096)
    nbs = neighbours(p)
    assert dataclasses.replace(p, pp=8) in nbs and dataclasses.replace(p, tp=2) in nbs
    assert dataclasses.replace(p, mbs=1) in nbs and dataclasses.replace(p, vp=2) in nbs
    for nb in nbs:
        moved = [f for f in ("tp", "pp", "cp", "vp", "mbs", "sharding", "recompute", "tp_comm_overlap")
                 if getattr(nb, f) != getattr(p, f)]
        assert len(moved) == 1, (nb.describe(), moved)


def test_readme_405b_layout_gets_a_better_neighbour() -> None:
    # README example: tp8 pp16 on 16,384 H100 leaves a ~46% pipeline bubble (gbs 2048 -> 16 micro-batches)
    arch, c = arch_from_workload("llama3.1-405b"), get_cluster("dgx-h100")
    p = ParallelPlan(gpus=16384, tp=8, pp=16, gbs=2048, seq=8192, recompute="selective", tp_comm_overlap=True,
                     fused_kernels=True)
    est = evaluate(arch, p, c)
    assert isinstance(est, PlanEstimate) and est.bubble_s / est.step_time_s > 0.4
    sug = better_neighbour(arch, p, c, est)
    assert sug is not None and sug.gain > 0.10
    assert sug.estimate.bubble_s / sug.estimate.step_time_s < est.bubble_s / est.step_time_s
    # an infeasible layout gets the fastest neighbour that fits
    bad = dataclasses.replace(p, recompute="none", tp=4)
    assert isinstance(evaluate(arch, bad, c), Infeasible)
    fit = better_neighbour(arch, bad, c, evaluate(arch, bad, c))
    assert fit is not None and fit.gain == float("inf")
