"""Mechanisms of the step and memory model, each against its closed form or a published measurement."""

import dataclasses
from pathlib import Path

import pytest

from trainperf.hardware.cluster import get_cluster
from trainperf.parallel import ParallelPlan, PlanEstimate, TransformerArch, evaluate, memory_per_gpu
from trainperf.parallel.collectives import Collective, collective_time
from trainperf.parallel.memory import recompute_candidates, stage_params, usable_bytes
from trainperf.parallel.opgen import Shard, layer_ops
from trainperf.parallel.params import DEFAULT_PARAMS
from trainperf.validation.published import Unsupported, row_setup
from trainperf.validation.validate import read_rows

L70 = TransformerArch(name="llama70", n_layers=80, hidden=8192, ffn_hidden=28672, n_heads=64, n_kv_heads=8,
                      vocab=128256)
QWEN_MOE = TransformerArch(name="qwen3-30b-a3b", n_layers=48, hidden=2048, ffn_hidden=0, n_heads=32, n_kv_heads=4,
                           vocab=151936, head_dim=128, moe_experts=128, moe_topk=8, moe_ffn_hidden=768)


def _est(arch: TransformerArch, plan: ParallelPlan, cluster: str, **params: float) -> PlanEstimate:
    est = evaluate(arch, plan, get_cluster(cluster), dataclasses.replace(DEFAULT_PARAMS, **params))
    assert isinstance(est, PlanEstimate), est
    return est


def test_block_recompute_memory_and_time_scale_with_the_layer_count() -> None:
    base = ParallelPlan(gpus=64, mbs=2, gbs=256, seq=8192, sharding="zero3", recompute="full")
    lps = base.layers_per_stage(L70)
    mem = [memory_per_gpu(L70, dataclasses.replace(base, recompute_layers=k)).activations for k in (20, 40, 60)]
    full = memory_per_gpu(L70, base).activations
    assert mem[0] > mem[1] > mem[2] > full
    assert mem[0] - mem[1] == pytest.approx(mem[1] - mem[2], rel=1e-9)  # linear in the recomputed layers
    small = dataclasses.replace(base, mbs=1, gbs=64, seq=4096)
    half = _est(L70, dataclasses.replace(small, recompute_layers=lps // 2), "gb200-nvl72")
    whole = _est(L70, small, "gb200-nvl72")
    assert half.compute_s["recompute"] == pytest.approx(whole.compute_s["recompute"] / 2, rel=1e-9)
    with pytest.raises(ValueError, match="recompute_layers"):
        ParallelPlan(gpus=8, gbs=8, recompute="selective", recompute_layers=4)


def test_recompute_candidates_take_the_fewest_layers_that_fit() -> None:
    plan = ParallelPlan(gpus=64, mbs=2, gbs=256, seq=8192, sharding="zero3", precision="fp8")
    cands = recompute_candidates(L70, plan, 186.0)
    assert [c.recompute.value for c in cands] == ["none", "selective", "full", "full"]
    k = cands[2].recompute_layers
    cap = usable_bytes(186.0)
    assert 0 < k < 80
    assert memory_per_gpu(L70, cands[2]).total <= cap
    assert memory_per_gpu(L70, dataclasses.replace(cands[2], recompute_layers=k - 1)).total > cap


def _rows(published_csv: Path) -> dict:
    return {r["id"]: r for r in read_rows(published_csv)}


def test_deepspeed_per_tensor_gathers_pay_ring_latency_per_tensor(published_csv: Path) -> None:
    a100 = get_cluster("dgx-a100")
    # 1536 ranks one per GPU, NCCL's ring LL latency: base 6.6 us + 191 network hops (2.7 us) + 1344 NVLink
    # hops (0.6 us x 1.8 when the ring spans nodes)
    assert collective_time(Collective.ALL_GATHER, 1.0, 1536, 1, a100) == pytest.approx(
        (6.6 + 191 * 2.7 + 1344 * 0.6 * 1.8) * 1e-6, rel=1e-3)
    # SC'21 Table 2, GPT-175B with DeepSpeed ZeRO-3 on 1536 A100: 30.7 tokens/s/GPU measured
    setup = row_setup(_rows(published_csv)["megatron_sc21-013"])
    assert setup.plan.gather_collectives_per_layer == 12 and not setup.plan.overlap_param_gather
    est = evaluate(setup.arch, setup.plan, setup.cluster)
    assert isinstance(est, PlanEstimate)
    assert est.tokens_per_s_per_gpu == pytest.approx(30.7, rel=0.2)
    flat = evaluate(setup.arch, dataclasses.replace(setup.plan, gather_collectives_per_layer=1,
                                                    overlap_param_gather=True), setup.cluster)
    assert isinstance(flat, PlanEstimate) and flat.tokens_per_s_per_gpu > 2 * 30.7  # FSDP-style: 2x too fast


def test_fsdp_held_across_microbatches_gathers_once_and_holds_the_stage() -> None:
    plan = ParallelPlan(gpus=512, tp=8, pp=8, mbs=1, gbs=256, seq=8192, sharding="zero3", recompute="full",
                        precision="fp8", reshard_per_microbatch=False)
    dense, expert = stage_params(L70, plan)
    mem = memory_per_gpu(L70, plan)
    assert mem.params == pytest.approx(2 * (dense + expert)) and mem.grads == pytest.approx(4 * (dense + expert))
    held = _est(L70, plan, "dgx-h100")
    per_mb = _est(L70, dataclasses.replace(plan, reshard_per_microbatch=True), "dgx-h100")
    # 32 micro-batches: per-micro-batch gathers expose the per-layer remainder 32 times, held stages once
    once, every = held.exposed_comm_s["all_gather+reduce_scatter@fsdp-step"], per_mb.exposed_comm_s[
        "all_gather+reduce_scatter@fsdp"]
    assert 0 < once < every / 10
    assert per_mb.step_time_s > held.step_time_s
    assert memory_per_gpu(L70, dataclasses.replace(plan, reshard_per_microbatch=True)).total < mem.total


def test_packed_documents_shrink_attention_work_by_doc_over_seq() -> None:
    full = Shard(mbs=1, seq=4096, tp=1, cp=1, sp=False, ep=1, etp=1, precision="bf16")
    packed = dataclasses.replace(full, doc_len=256)
    f_full = layer_ops(L70, full, "dense").filter(layer_ops(L70, full, "dense")["category"] == "attention")["flops"]
    ops = layer_ops(L70, packed, "dense")
    f_packed = ops.filter(ops["category"] == "attention")["flops"]
    assert f_packed.sum() == pytest.approx(f_full.sum() * 256 / 4096, rel=1e-9)
    with pytest.raises(ValueError, match="packed_doc_len"):
        ParallelPlan(gpus=8, gbs=8, seq=1024, packed_doc_len=2048)


def test_moe_launch_cost_grows_with_experts_per_rank() -> None:
    plan = ParallelPlan(gpus=8, ep=8, etp=1, mbs=4, gbs=64, seq=4096, precision="fp8")
    with_cost = _est(QWEN_MOE, plan, "dgx-b200", moe_expert_overhead_s=2e-4)
    without = _est(QWEN_MOE, plan, "dgx-b200", moe_expert_overhead_s=0.0)
    # m micro-batches x 48 MoE layers x 128/8 experts per rank x 0.2 ms (DP reduce is hidden at this size)
    assert with_cost.step_time_s - without.step_time_s == pytest.approx(plan.n_micro * 48 * 16 * 2e-4, rel=0.02)


def test_torchtitan_pipeline_defaults_to_one_microbatch_per_stage(published_csv: Path) -> None:
    rows = _rows(published_csv)
    p13 = row_setup(rows["torchtitan-013"]).plan  # 1F1B, pp 8, local batch 32
    assert (p13.n_micro, p13.mbs, p13.vp) == (8, 4, 1)
    p14 = row_setup(rows["torchtitan-014"]).plan  # interleaved, stages per rank not stated
    assert (p14.n_micro, p14.mbs, p14.vp) == (16, 2, 2)


def test_attention_backend_follows_the_stack(published_csv: Path) -> None:
    """Megatron / NeMo rows run Transformer Engine's cuDNN attention (faster on Hopper), the others FA2."""
    def backends(prefixes: tuple[str, ...]) -> set[str]:
        out = set()
        for rid, r in _rows(published_csv).items():
            if rid.startswith(prefixes):
                try:
                    out.add(row_setup(r).plan.attention)
                except (Unsupported, ValueError):
                    continue
        return out

    assert backends(("mbridge", "nemo2407", "nemo2403")) == {"cudnn"}
    assert backends(("foundry", "torchtitan", "flashattn")) == {"flash2"}
    plan = ParallelPlan(gpus=64, tp=8, pp=8, mbs=1, gbs=64, seq=32768, recompute="full")
    fa2 = _est(L70, plan, "dgx-h100")
    cudnn = _est(L70, dataclasses.replace(plan, attention="cudnn"), "dgx-h100")
    assert cudnn.step_time_s < fa2.step_time_s


def test_moe_cuda_graphs_drop_exactly_the_eager_moe_overheads() -> None:
    plan = ParallelPlan(gpus=8, ep=8, etp=1, mbs=4, gbs=128, seq=4096, precision="fp8", fused_kernels=True)
    eager = _est(QWEN_MOE, plan, "gb200-nvl72")
    graphed = _est(QWEN_MOE, dataclasses.replace(plan, moe_cuda_graphs=True), "gb200-nvl72")
    fixed = DEFAULT_PARAMS.moe_layer_overhead_s + DEFAULT_PARAMS.moe_expert_overhead_s * 128 / 8
    saved = plan.n_micro * QWEN_MOE.moe_layers * fixed
    assert eager.step_time_s - graphed.step_time_s == pytest.approx(saved, rel=0.02)
    same = _est(QWEN_MOE, dataclasses.replace(plan, moe_cuda_graphs=True), "gb200-nvl72",
                moe_layer_overhead_s=0.0, moe_expert_overhead_s=0.0)
    assert same.step_time_s == pytest.approx(graphed.step_time_s, rel=1e-12)  # nothing else changes


def test_hierarchical_dispatcher_only_matters_across_nvlink_domains() -> None:
    with pytest.raises(ValueError, match="ep_dispatcher"):
        ParallelPlan(gpus=8, ep=8, gbs=8, ep_dispatcher="deepep")
    one_node = ParallelPlan(gpus=8, ep=8, etp=1, mbs=1, gbs=64, seq=4096, precision="fp8", sharding="zero1")
    two_nodes = dataclasses.replace(one_node, gpus=16, ep=16, gbs=128)
    for plan, faster in ((one_node, False), (two_nodes, True)):
        flat = _est(QWEN_MOE, plan, "dgx-b200")
        hier = _est(QWEN_MOE, dataclasses.replace(plan, ep_dispatcher="hierarchical"), "dgx-b200")
        if faster:
            assert hier.exposed_comm_s["all_to_all@ep"] < 0.5 * flat.exposed_comm_s["all_to_all@ep"]
        else:
            assert hier.step_time_s == pytest.approx(flat.step_time_s, rel=1e-12)


def test_list_api_gathers_cost_the_longer_of_gather_and_copy_launches(published_csv: Path) -> None:
    from trainperf.parallel.params import DEFAULT_PARAMS

    setup = row_setup(_rows(published_csv)["megatron_sc21-013"])  # DeepSpeed ZeRO-3, 1536 ranks
    assert setup.plan.list_api_collectives
    with_copies = evaluate(setup.arch, setup.plan, setup.cluster)
    without = evaluate(setup.arch, dataclasses.replace(setup.plan, list_api_collectives=False), setup.cluster)
    assert isinstance(with_copies, PlanEstimate) and isinstance(without, PlanEstimate)
    # 1536 copy launches (15 ms) outlast a small tensor's gather: the step slows, by at most every gather of
    # the step (12 per layer, forward + recomputed forward + backward) paying all its copies
    extra = with_copies.step_time_s - without.step_time_s
    bound = 12 * setup.arch.n_layers * 3 * 1536 * DEFAULT_PARAMS.list_copy_s
    assert 0 < extra < bound
    # on 64 ranks the launches hide under the gathers of a 70B layer's tensors
    small = ParallelPlan(gpus=64, gbs=64, seq=2048, sharding="zero3", recompute="full", gather_collectives_per_layer=12,
                         overlap_param_gather=False)
    a = evaluate(L70, dataclasses.replace(small, list_api_collectives=True), get_cluster("dgx-a100"))
    b = evaluate(L70, small, get_cluster("dgx-a100"))
    assert isinstance(a, PlanEstimate) and isinstance(b, PlanEstimate)
    assert a.step_time_s == pytest.approx(b.step_time_s, rel=1e-6)
