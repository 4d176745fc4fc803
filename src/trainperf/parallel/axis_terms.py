"""The communication terms of one plan's step, one function per parallel axis (TP, CP, EP, ZeRO-3/FSDP) and
the once-per-step ones (PP transfer, DP reduction, HSDP, optimizer): what each exposes per micro-batch,
what it hides under compute, and what it overlaps (which slows that compute). ``estimate.stage_terms``
calls them and ``compose`` adds them up; the simulator lays out the same terms. Pure functions, memoized
collective times.
"""

from __future__ import annotations

from typing import NamedTuple

from trainperf.hardware.cluster import ClusterSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.collectives import Collective, collective_time, hierarchical_dispatch_time, p2p_time
from trainperf.parallel.params import StepModelParams
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding

ADAM_BYTES_PER_PARAM = 30.0
"""Adam step traffic: fp32 master r/w (8) + m, v r/w (16) + fp32 grad read (4) + 16-bit weight write (2)."""
OPTIMIZER_BW_FRACTION = 0.8
"""Fused multi-tensor Adam reaches ~80% of HBM bandwidth (Calculon 0.9 for large transfers, MAD-Max 0.836;
shared/notes/hardware-specs.md 7c)."""


# Speed only (a layout search evaluates ~10^4 plans that share most collectives and memory layouts): pure
# functions of their arguments memoized. A ClusterSpec is not hashable (its tiers hold mapping proxies), so
# the collective memo keys on its id and keeps the object to check that the id still names it.
_COLL_MEMO: dict[tuple[object, ...], tuple[ClusterSpec, float]] = {}
_COLL_MEMO_MAX = 1 << 16


def collective_s(kind: Collective, nbytes: float, size: int, stride: int, cluster: ClusterSpec) -> float:
    """collective_time, memoized."""
    if size <= 1 or nbytes <= 0:
        return 0.0
    key = (kind, nbytes, size, stride, id(cluster))
    hit = _COLL_MEMO.get(key)
    if hit is not None and hit[0] is cluster:
        return hit[1]
    v = collective_time(kind, nbytes, size, stride, cluster)
    if len(_COLL_MEMO) >= _COLL_MEMO_MAX:
        _COLL_MEMO.clear()
    _COLL_MEMO[key] = (cluster, v)
    return v


class AxisComm(NamedTuple):
    """One axis's per-micro-batch terms: exposed forward / backward, hidden, and overlapped (interference)."""

    f: float = 0.0
    b: float = 0.0
    hidden_one: float = 0.0
    """The axis's hidden time per layer per micro-batch (what the simulator lays under compute)."""
    overlapped: float = 0.0
    """Its communication overlapped with compute over the whole step (it slows that compute)."""


def tp_comm(plan: ParallelPlan, cluster: ClusterSpec, params: StepModelParams, act_bytes: float, sp: bool,
             n_dense: float, n_moe: float) -> tuple[AxisComm, float, float, float]:
    """TP (Megatron SP: all-gather + reduce-scatter around attention and MLP, forward and backward): the
    axis's terms, one collective set per block (unexposed), its exposed share, MoE blocks per layer."""
    if plan.tp == 1:
        return AxisComm(), 0.0, 1.0, 1.0
    kinds = (Collective.ALL_GATHER, Collective.REDUCE_SCATTER) if sp else (Collective.ALL_REDUCE,)
    one = sum(collective_s(k, act_bytes, plan.tp, 1, cluster) for k in kinds)
    expo = params.exposed_tp_fraction if plan.tp_comm_overlap else 1.0
    blocks_dense, blocks_moe = 2.0, 1.0 + (1.0 if plan.etp_eff > 1 else 0.0)
    tp_f = one * expo * (n_dense * blocks_dense + n_moe * blocks_moe)
    return AxisComm(f=tp_f, b=tp_f, overlapped=2 * plan.n_micro * tp_f * (1 - expo) / max(expo, 1e-9)), one, expo, blocks_moe


def cp_comm(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, t: int, att_f: float,
             layers: float) -> AxisComm:
    """CP: ring exchange of K and V (cp - 1 steps), hidden under forward attention (backward: twice)."""
    if plan.cp == 1:
        return AxisComm()
    kv = 2.0 * t * max(1, arch.n_kv_heads // plan.tp) * arch.hd * 2
    xchg = (plan.cp - 1) * collective_s(Collective.SEND_RECV, kv, 2, plan.tp, cluster)
    hid = min(xchg, att_f)
    return AxisComm(f=max(0.0, xchg - att_f) * layers, b=max(0.0, 2 * xchg - 2 * att_f) * layers, hidden_one=hid,
                 overlapped=plan.n_micro * 3 * hid * layers)


def ep_comm(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, params: StepModelParams,
             t_sp: int, mf: float, mb: float, n_moe: float) -> AxisComm:
    """EP: dispatch + combine all-to-all, forward and backward (f = b: the same exchanges in reverse)."""
    if plan.ep == 1 or not arch.is_moe:
        return AxisComm()
    # dispatch in the GEMM precision (fp8 recipes quantize before the all-to-all, 1 byte), combine in bf16
    disp = 1.0 if plan.precision in ("fp8", "fp4") else 2.0
    a2a = t_sp * arch.moe_topk * arch.hidden

    def a2a_t(b: float) -> float:
        if plan.ep_dispatcher == "hierarchical":
            return hierarchical_dispatch_time(b, plan.ep, plan.etp_eff, cluster, arch.moe_experts, arch.moe_topk)
        return collective_s(Collective.ALL_TO_ALL, b, plan.ep, plan.etp_eff, cluster)

    one = 0.5 * (a2a_t(a2a * disp) + a2a_t(a2a * 2.0))
    # per layer, forward + backward: 4 all-to-alls; overlap (the other micro-batch's compute in 1F1B)
    # hides up to (1 - exposed fraction) of them, but never more than the layer's own compute time
    total = 4 * one
    can_hide = min(total * (1 - params.exposed_a2a_fraction), mf + mb)
    ep_f = (total - can_hide) / 2 * n_moe
    return AxisComm(f=ep_f, b=ep_f, hidden_one=can_hide, overlapped=plan.n_micro * can_hide * n_moe)


class FsdpComm(NamedTuple):
    f: float = 0.0
    b: float = 0.0
    once: float = 0.0
    hidden_f: float = 0.0
    hidden_b: float = 0.0
    hidden_once: float = 0.0
    overlapped: float = 0.0


def fsdp_comm(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, params: StepModelParams,
              dense_p: float, expert_p: float, layers: float, lf: float, lb: float) -> FsdpComm:
    """ZeRO-3 / FSDP: weights gathered per layer, gradients reduce-scattered, prefetched under compute
    (``lf``, ``lb``: mean forward / backward seconds of one layer)."""
    if plan.sharding is not Sharding.ZERO3:
        return FsdpComm()
    dgroup, dstride = plan.shard_size * plan.cp, plan.tp
    w_layer = 2.0 * dense_p / layers
    e_layer = 2.0 * expert_p / layers
    eg = max(1, plan.edp * plan.shard_size // plan.dp)
    nc = plan.gather_collectives_per_layer  # one per flat buffer, or one per parameter tensor
    # list-API gathers copy each of the group's tensors out with its own launch; the host launches them
    # while the gather runs on the GPU, so a gather costs the longer of the two (DeepSpeed's gradient
    # reduce-scatter of that era went through a flat coalesced buffer, so only the gathers pay)
    copy_s = params.list_copy_s if plan.list_api_collectives else 0.0
    ag = nc * (max(collective_s(Collective.ALL_GATHER, w_layer / nc, dgroup, dstride, cluster), copy_s * dgroup)
               + max(collective_s(Collective.ALL_GATHER, e_layer / nc, eg, plan.etp_eff * plan.ep, cluster),
                     copy_s * eg if e_layer else 0.0))
    gb = plan.grad_reduce_bytes / 2
    rs = 0.0 if plan.lora else nc * (
        collective_s(Collective.REDUCE_SCATTER, w_layer * gb / nc, dgroup, dstride, cluster)
        + collective_s(Collective.REDUCE_SCATTER, e_layer * gb / nc, eg, plan.etp_eff * plan.ep, cluster))
    if not plan.reshard_per_microbatch:  # once per step: gather before the first forward, reduce after
        hid = layers * (min(ag, lf) + min(rs, lb))
        out = FsdpComm(once=layers * (max(0.0, ag - lf) + max(0.0, rs - lb)) + ag + rs,  # + the last backward
                    hidden_once=hid, overlapped=hid)
    elif plan.overlap_param_gather:
        out = FsdpComm(f=layers * max(0.0, ag - lf) + ag, b=layers * max(0.0, ag + rs - lb) + rs,
                    hidden_f=min(ag, lf), hidden_b=min(ag + rs, lb),
                    overlapped=plan.n_micro * layers * (min(ag, lf) + min(ag + rs, lb)))
    else:
        out = FsdpComm(f=layers * ag, b=layers * (ag + rs))
    if nc > 1 and plan.recompute is Recompute.FULL:
        # per-tensor partitioning releases each tensor after its submodule's forward: the recomputed
        # forward gathers it again (DeepSpeed ZeRO-3 with activation checkpointing)
        out = out._replace(b=out.b + layers * plan.recomputed_fraction(arch) * ag)
    return out


class OncePerStep(NamedTuple):
    pp_p2p: float
    dp_kind: Collective
    dp_reduce: float
    dp_gather: float
    hsdp: float
    optimizer: float


def once_per_step(plan: ParallelPlan, cluster: ClusterSpec, dense_p: float, expert_p: float,
                   boundary_bytes: float) -> OncePerStep:
    """Raw once-per-step terms: one PP activation transfer, the DP gradient reduction (and ZeRO-1/2
    parameter all-gather), the HSDP replica all-reduce, and Adam over the local shard (memory-bound)."""
    pp_p2p = 0.0
    if plan.pp > 1:
        cross = plan.tp * plan.cp * plan.dp >= cluster.nvlink_domain
        pp_p2p = p2p_time(boundary_bytes, cross, cluster)
    dgroup, dstride = plan.shard_size * plan.cp, plan.tp
    dp_kind = Collective.ALL_REDUCE if plan.sharding is Sharding.DDP else Collective.REDUCE_SCATTER
    dp_reduce = dp_gather = hsdp = 0.0
    if plan.sharding is not Sharding.ZERO3 and plan.dp * plan.cp > 1 and not plan.lora:
        g = plan.grad_reduce_bytes
        dp_reduce = collective_s(dp_kind, dense_p * g, dgroup, dstride, cluster) + collective_s(
            dp_kind, expert_p * g, max(1, plan.edp), plan.etp_eff * plan.ep, cluster)
        if plan.sharding is not Sharding.DDP:
            dp_gather = collective_s(Collective.ALL_GATHER, dense_p * 2, dgroup, dstride, cluster) + collective_s(
                Collective.ALL_GATHER, expert_p * 2, max(1, plan.edp), plan.etp_eff * plan.ep, cluster)
    if plan.shard_group and plan.shard_group < plan.dp:  # HSDP: replicas all-reduce the sharded grads
        rep = plan.dp // plan.shard_group
        hsdp = collective_s(Collective.ALL_REDUCE, dense_p * plan.grad_reduce_bytes / plan.shard_size, rep,
                   plan.tp * plan.cp * plan.shard_group, cluster)
    return OncePerStep(pp_p2p=pp_p2p, dp_kind=dp_kind, dp_reduce=dp_reduce, dp_gather=dp_gather, hsdp=hsdp,
                       optimizer=optimizer_s(plan, cluster.gpu.hbm_bw_GBps, dense_p, expert_p))


def optimizer_s(plan: ParallelPlan, hbm_bw_GBps: float, dense_p: float, expert_p: float) -> float:
    """Adam over the rank's shard of the stage's parameters, memory-bound (ADAM_BYTES_PER_PARAM at
    OPTIMIZER_BW_FRACTION of HBM bandwidth); frozen-weight LoRA updates nothing we count."""
    opt_shard = 1 if plan.sharding is Sharding.DDP else plan.shard_size * plan.cp
    local = dense_p / opt_shard + expert_p / max(1, plan.edp if plan.sharding is not Sharding.DDP else 1)
    return 0.0 if plan.lora else local * ADAM_BYTES_PER_PARAM / (hbm_bw_GBps * 1e9 * OPTIMIZER_BW_FRACTION)


