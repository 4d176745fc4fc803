import dataclasses

import pytest

from trainperf.hardware.cluster import get_cluster
from trainperf.parallel import (
    Infeasible,
    ParallelPlan,
    PlanEstimate,
    TransformerArch,
    evaluate,
    memory_per_gpu,
)

L405 = TransformerArch(name="llama405", n_layers=126, hidden=16384, ffn_hidden=53248, n_heads=128, n_kv_heads=8,
                       vocab=128256)
L8 = TransformerArch(name="llama8", n_layers=32, hidden=4096, ffn_hidden=14336, n_heads=32, n_kv_heads=8,
                     vocab=128256)
QWEN_MOE = TransformerArch(name="qwen3-30b-a3b", n_layers=48, hidden=2048, ffn_hidden=0, n_heads=32, n_kv_heads=4,
                           vocab=151936, head_dim=128, moe_experts=128, moe_topk=8, moe_ffn_hidden=768)


def test_arch_parameter_counts() -> None:
    assert L405.n_params() / 1e9 == pytest.approx(405.85, rel=2e-3)
    assert QWEN_MOE.n_params() / 1e9 == pytest.approx(30.5, rel=1e-2)
    assert QWEN_MOE.n_params_active() / 1e9 == pytest.approx(3.35, rel=2e-2)


def test_memory_parts_follow_sharding() -> None:
    base = ParallelPlan(gpus=64, mbs=1, gbs=64, seq=4096, sharding="ddp")
    ddp = memory_per_gpu(L8, base)
    z1 = memory_per_gpu(L8, dataclasses.replace(base, sharding="zero1"))
    z2 = memory_per_gpu(L8, dataclasses.replace(base, sharding="zero2"))
    z3 = memory_per_gpu(L8, dataclasses.replace(base, sharding="zero3"))
    n = L8.n_params()
    assert ddp.params == pytest.approx(2 * n, rel=1e-3)  # 16-bit weights
    assert ddp.grads == pytest.approx(4 * n, rel=1e-3)  # fp32 gradient accumulator
    assert ddp.optimizer == pytest.approx(12 * n, rel=1e-3)  # fp32 master + Adam m, v
    assert z1.optimizer == pytest.approx(ddp.optimizer / 64) and z1.grads == ddp.grads
    assert z2.grads == pytest.approx(ddp.grads / 64) and z2.params == ddp.params
    assert z3.params == pytest.approx(ddp.params / 64)
    assert ddp.total > z1.total > z2.total > z3.total


def test_recompute_orders_activation_memory() -> None:
    p = ParallelPlan(gpus=8, tp=8, mbs=1, gbs=1, seq=8192)
    acts = [memory_per_gpu(L8, dataclasses.replace(p, recompute=r)).activations for r in ("none", "selective", "full")]
    assert acts[0] > acts[1] > acts[2]


def test_infeasible_with_numbers_not_a_crash() -> None:
    c = get_cluster("dgx-h100")
    est = evaluate(L405, ParallelPlan(gpus=16384, tp=8, pp=16, mbs=1, gbs=2048, seq=8192), c)
    assert isinstance(est, Infeasible)
    assert "GiB per GPU >" in est.reason and est.memory is not None
    assert isinstance(evaluate(L405, ParallelPlan(gpus=6, tp=3, gbs=2), c), Infeasible)  # tp vs heads
    fits = evaluate(L405, ParallelPlan(gpus=16384, tp=8, pp=16, mbs=1, gbs=2048, seq=8192, recompute="full"), c)
    assert isinstance(fits, PlanEstimate)


def test_estimate_breakdown_is_consistent() -> None:
    c = get_cluster("dgx-h100")
    p = ParallelPlan(gpus=1024, tp=8, pp=8, mbs=1, gbs=512, seq=8192, recompute="full")
    est = evaluate(L405, p, c)
    assert isinstance(est, PlanEstimate)
    assert est.tokens_per_s_per_gpu == pytest.approx(512 * 8192 / 1024 / est.step_time_s)
    assert est.mfu == pytest.approx(est.model_tflops_per_gpu / 989.5, rel=1e-3)
    assert 0.15 < est.mfu < 0.6
    assert est.bubble_s > 0 and "reduce_scatter+all_gather@tp" in est.exposed_comm_s
    assert {"matmul", "attention", "recompute"} <= set(est.compute_s)
    # the 1F1B bubble of this plan: (p-1)/(m+p-1) of the pipelined part
    m = p.n_micro
    assert est.bubble_s / (est.bubble_s + m * (est.bubble_s / (p.pp - 1))) == pytest.approx(7 / (m + 7))


def test_moe_plan_has_all_to_all_and_more_gpus_help() -> None:
    c = get_cluster("dgx-h100")
    est = evaluate(QWEN_MOE, ParallelPlan(gpus=16, ep=16, mbs=1, gbs=64, seq=4096, precision="fp8"), c)
    assert isinstance(est, PlanEstimate)
    assert est.exposed_comm_s.get("all_to_all@ep", 0) > 0
    b200 = evaluate(QWEN_MOE, ParallelPlan(gpus=16, ep=16, mbs=1, gbs=64, seq=4096, precision="fp8"),
                    get_cluster("dgx-b200"))
    assert isinstance(b200, PlanEstimate) and b200.tokens_per_s_per_gpu > est.tokens_per_s_per_gpu


def test_plans_of_one_shape_reuse_the_priced_op_tables() -> None:
    # a layout search evaluates ~10^4 plans: the per-rank op tables are priced once per shape (cached), so a
    # plan differing only in global batch prices no table again (bench_search.py measures the speed)
    from trainperf.parallel.estimate import _scaled_layer_times

    c = get_cluster("dgx-h100")
    p = ParallelPlan(gpus=1024, tp=8, pp=8, mbs=1, gbs=512, seq=8192, recompute="full")
    evaluate(L405, p, c)
    misses = _scaled_layer_times.cache_info().misses
    for dp_gbs in (1024, 2048):
        est = evaluate(L405, dataclasses.replace(p, gbs=dp_gbs), c)
        assert isinstance(est, PlanEstimate)
    assert _scaled_layer_times.cache_info().misses == misses
