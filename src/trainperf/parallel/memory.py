"""Memory per GPU for a plan: parameters, gradients, optimizer state (as sharded), activations (per
recompute policy and in-flight micro-batches), communication buffers and workspace.

Mixed-precision Adam bytes per parameter (Rajbhandari et al. 2020, ZeRO sec. 3): 2 (16-bit weights) +
4 (fp32 gradient accumulator, Megatron main_grad / FSDP fp32 reduce) + 12 (fp32 master, m, v).
Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation", sec. 4), generalised
to GQA, gated MLPs and MoE, with fused flash attention (no s^2 score tensor is stored).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from trainperf.hardware.spec import usable_bytes
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding

WEIGHT_BYTES, GRAD_BYTES, OPT_BYTES = 2.0, 4.0, 12.0
LOSS_BYTES_FUSED, LOSS_BYTES_EAGER = 4.0, 10.0
"""Bytes per logit at the loss's memory peak (start of backward); see memory_per_gpu."""
WORKSPACE_BYTES = 1.0 * 2**30
"""cuBLAS / cuDNN workspaces, NCCL channel buffers and allocator slack not in tensors (about 1-2 GiB in
PyTorch memory snapshots of LLM training; 1 GiB assumed, not fitted)."""


@dataclass(frozen=True, kw_only=True)
class MemoryBreakdown:
    """Bytes per GPU on the busiest pipeline rank."""

    params: float
    grads: float
    optimizer: float
    activations: float
    comm_buffers: float
    workspace: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations + self.comm_buffers + self.workspace

    def as_dict(self) -> dict[str, float]:
        return {"params": self.params, "grads": self.grads, "optimizer": self.optimizer,
                "activations": self.activations, "comm_buffers": self.comm_buffers, "workspace": self.workspace,
                "total": self.total}


def stage_params(arch: TransformerArch, plan: ParallelPlan) -> tuple[float, float]:
    """(dense, expert) parameters held by one rank of the busiest stage, before data-parallel sharding."""
    lps = plan.layers_per_stage(arch)
    frac_moe = arch.moe_layers / arch.n_layers
    moe_l, dense_l = lps * frac_moe, lps * (1 - frac_moe)
    expert_one = (arch.moe_experts * arch.mlp_params(arch.moe_ffn_hidden)) if arch.is_moe else 0
    shared = arch.shared_experts * arch.mlp_params(arch.moe_ffn_hidden) + arch.hidden * arch.moe_experts
    dense = (dense_l * arch.layer_params(False) + moe_l * (arch.attn_params() + shared)) / plan.tp
    # embedding and LM head: both on the only stage, else one of them on an end stage
    dense += (arch.embedding_params() if plan.pp == 1 else arch.vocab * arch.hidden) / plan.tp
    expert = moe_l * expert_one / (plan.ep * plan.etp_eff)
    return dense, expert


def _act_per_layer(arch: TransformerArch, plan: ParallelPlan, moe: bool) -> tuple[float, float]:
    """(bytes saved for backward by one layer for one micro-batch, bytes recompute can drop).
    GEMM inputs kept for the weight gradient are stored in the GEMM precision: fp8 recipes (Transformer
    Engine) save the quantized copy, 1 byte per element; everything else is 16-bit."""
    t = plan.mbs * plan.seq // plan.cp
    tp = plan.tp
    t_sp = t / tp if plan.sequence_parallel else t
    g = 1.0 if plan.precision in ("fp8", "fp4") else 2.0  # bytes of a saved GEMM input
    h, d, dv = arch.hidden, arch.hd, arch.hd_v
    nq, nkv = arch.n_heads / tp, max(1.0, arch.n_kv_heads / tp)
    # norm input, qkv GEMM input, residual; q, k, v; attention output (out-proj input); softmax stats
    attn = 2 * t_sp * h * 2 + g * t_sp * h + 2 * t * (nq + 2 * nkv) * d + g * t * nq * dv + 4 * t * nq
    droppable = 2 * t * (nq + 2 * nkv) * d + 4 * t * nq
    up = 2 if arch.gated_mlp else 1
    if moe:
        routed = t_sp * arch.moe_topk
        w: float = arch.moe_ffn_hidden
        # norm input, router/permute buffers, expert up input, up output(s), activation (down input)
        mlp = 2 * t_sp * h + 2 * routed * h + g * routed * h + 2 * routed * w * up + g * routed * w
        droppable += g * routed * w
        if arch.shared_experts:
            mlp += t * arch.shared_experts * w * (2 * up + g) / tp
    else:
        w = arch.ffn_hidden / tp
        # norm input, up input, up output(s), activation (down input)
        mlp = 2 * t_sp * h + g * t_sp * h + 2 * t * w * up + g * t * w
        droppable += g * t * w
    return attn + mlp, droppable


def memory_per_gpu(arch: TransformerArch, plan: ParallelPlan) -> MemoryBreakdown:
    dense, expert = stage_params(arch, plan)
    z = plan.sharding
    dshard, eshard = plan.shard_size * plan.cp, max(1, plan.edp * plan.shard_size // plan.dp)
    shard_w = z is Sharding.ZERO3
    shard_g = z in (Sharding.ZERO2, Sharding.ZERO3)
    shard_o = z is not Sharding.DDP
    held = shard_w and not plan.reshard_per_microbatch  # stage kept unsharded across micro-batches
    if held:
        shard_w = shard_g = False
    params = WEIGHT_BYTES * (dense / (dshard if shard_w else 1) + expert / (eshard if shard_w else 1))
    grads = GRAD_BYTES * (dense / (dshard if shard_g else 1) + expert / (eshard if shard_g else 1))
    opt = OPT_BYTES * (dense / (dshard if shard_o else 1) + expert / (eshard if shard_o else 1))
    if plan.lora:  # frozen base weights: no gradients or optimizer state for them
        grads = opt = 0.0

    lps = plan.layers_per_stage(arch)
    frac_moe = arch.moe_layers / arch.n_layers
    (a_d, drop_d), (a_m, drop_m) = _act_per_layer(arch, plan, False), _act_per_layer(arch, plan, True)
    per_layer = (1 - frac_moe) * a_d + frac_moe * a_m
    drop = (1 - frac_moe) * drop_d + frac_moe * drop_m
    t = plan.mbs * plan.seq // plan.cp
    t_sp = t / plan.tp if plan.sequence_parallel else t
    if plan.recompute is Recompute.FULL:  # recomputed layers keep their input only (block method: the rest all)
        k = lps * plan.recomputed_fraction(arch)
        stage_act = k * 2 * t_sp * arch.hidden + (lps - k) * per_layer
        working = per_layer  # one layer re-materialised during its backward
    elif plan.recompute is Recompute.SELECTIVE:
        stage_act, working = lps * (per_layer - drop), drop / max(lps, 1)
    else:
        stage_act, working = lps * per_layer, 0.0
    in_flight = min(plan.n_micro, plan.pp)
    if plan.vp > 1:
        in_flight = math.ceil(in_flight * (1 + (plan.pp - 1) / (plan.pp * plan.vp)))
    # loss peak on the last stage, bytes per logit: Megatron's vocab-parallel CE keeps the fp32 softmax and
    # writes its gradient in place (4); PyTorch CE holds bf16 logits, the fp32 upcast / log-softmax and the fp32
    # gradient at the start of backward (2 + 4 + 4)
    logits = t * arch.vocab / plan.tp * (LOSS_BYTES_FUSED if plan.fused_cross_entropy else LOSS_BYTES_EAGER)
    acts = stage_act * in_flight + working + logits

    layer_w = WEIGHT_BYTES * (arch.layer_params(arch.is_moe) / plan.tp)
    comm = 2 * layer_w if shard_w else 0.0  # FSDP: current + prefetched unsharded layer
    comm += 2 * t * arch.hidden * 2  # TP/CP/PP staging buffers of one activation
    return MemoryBreakdown(params=params, grads=grads, optimizer=opt, activations=acts, comm_buffers=comm,
                           workspace=WORKSPACE_BYTES)


def recompute_candidates(arch: TransformerArch, plan: ParallelPlan, hbm_capacity_GB: float) -> list[ParallelPlan]:
    """``plan`` with the least recomputation first: none, selective, then full recompute of the fewest layers
    per rank that fit in ``hbm_capacity_GB`` (Megatron recompute_method=block; found by bisection, memory is
    monotone in the count), then full on every layer. Callers evaluate them in order and keep the first
    feasible one, as a user tuning ``recompute_num_layers`` would."""
    none = dataclasses.replace(plan, recompute=Recompute.NONE, recompute_layers=0)
    out = [none, dataclasses.replace(none, recompute=Recompute.SELECTIVE)]
    full = dataclasses.replace(none, recompute=Recompute.FULL)
    cap, lps = usable_bytes(hbm_capacity_GB), plan.layers_per_stage(arch)
    lo, hi = 1, lps
    if lps > 1 and memory_per_gpu(arch, dataclasses.replace(full, recompute_layers=lps - 1)).total <= cap:
        while lo < hi:  # smallest k with memory(k) <= cap
            mid = (lo + hi) // 2
            if memory_per_gpu(arch, dataclasses.replace(full, recompute_layers=mid)).total <= cap:
                hi = mid
            else:
                lo = mid + 1
        out.append(dataclasses.replace(full, recompute_layers=lo))
    out.append(full)
    return out
