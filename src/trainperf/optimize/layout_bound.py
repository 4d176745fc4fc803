"""A lower bound on a plan's step time, for branch-and-bound pruning of the layout search.

``step_lower_bound`` is parallel.estimate.evaluate with every term that can only add time set to zero:
no recomputation, no exposed TP/CP/EP/FSDP/DP/PP communication, no interference from hidden
communication. What stays is the busiest stage's compute (the same cached per-layer op times, the same
per-layer and MoE dispatch overheads, the same head placement), the pipeline schedule on it, the
optimizer step and the fixed per-step overhead. Each dropped term is >= 0 in evaluate, and the pipeline
time grows with the stage time, so bound <= evaluate's step time for every plan; the search evaluates
plans in order of their bound and stops once the bound passes the K-th best step found, which returns
exactly the exhaustive top K (tests/unit/optimize/test_layout_search.py checks it against brute force).
"""

from __future__ import annotations

from trainperf.hardware.cluster import ClusterSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.axis_terms import optimizer_s
from trainperf.parallel.estimate import _scaled_layer_times, _stage_counts, _stage_params
from trainperf.parallel.opgen import Shard
from trainperf.parallel.params import StepModelParams
from trainperf.parallel.plan import ParallelPlan
from trainperf.parallel.schedule import pipeline_time

SLACK = 1.0 - 1e-9
"""The bound is summed in another order than evaluate's step: shave float rounding so it stays below."""


def step_lower_bound(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, params: StepModelParams,
                     *, sustained: bool = True) -> float:
    """Seconds; <= evaluate(arch, plan, cluster, params).step_time_s for a plan that fits."""
    gpu = cluster.gpu
    k = params.compute_scale
    shard = Shard(mbs=plan.mbs, seq=plan.seq, tp=plan.tp, cp=plan.cp, sp=plan.sequence_parallel and plan.tp > 1,
                  ep=plan.ep, etp=plan.etp_eff, precision=plan.precision, fused=plan.fused_kernels,
                  doc_len=plan.packed_doc_len, attention=plan.attention)
    n_dense, n_moe, _ = _stage_counts(arch, plan)  # the busiest stage, as evaluate counts it
    layer_over = params.layer_overhead_s  # its fwd and bwd halves together
    d = m = 0.0
    if arch.dense_layers_count():
        lt = _scaled_layer_times(arch, shard, "dense", gpu, k, sustained)
        d = lt.fwd + lt.bwd - (lt.wgrad if plan.lora else 0.0) + layer_over
    if arch.is_moe:
        lt = _scaled_layer_times(arch, shard, "moe", gpu, k, sustained)
        m = lt.fwd + lt.bwd - (lt.wgrad if plan.lora else 0.0) + layer_over
        if not plan.moe_cuda_graphs:
            m += params.moe_layer_overhead_s + params.moe_expert_overhead_s * arch.moe_experts / plan.ep
    head = _scaled_layer_times(arch, shard, "head", gpu, k, sustained)
    h = head.fwd + head.bwd
    total = n_dense * d + n_moe * m  # every layer of the busiest stage, no recompute
    lo = arch.n_layers // plan.pp
    n = n_dense + n_moe
    if plan.pp > 1 and lo < n:
        per = total / max(n, 1e-9)
        stage = max(total, lo * per + h)  # evaluate keeps the longer of: all ceil(L/p) layers, or floor + head
    else:
        stage = total + h
    step, _ = pipeline_time(stage, 0.0, plan.n_micro, plan.pp, plan.vp)
    optimizer = optimizer_s(plan, gpu.hbm_bw_GBps, *_stage_params(arch, plan))
    return (step + optimizer + params.step_overhead_s) * SLACK
