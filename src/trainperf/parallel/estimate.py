"""Evaluate a ParallelPlan on a cluster: per-rank op costs, pipeline bubble, exposed communication,
optimizer, memory -> PlanEstimate, or Infeasible(reason) when the plan does not fit or cannot run.

Step = pipeline(m micro-batches of stage compute + exposed TP/CP/EP comm) + exposed data-parallel comm
+ optimizer step + fixed overheads. Overlap is mechanism: DP gradient reduce hides under the last
micro-batch's backward, FSDP gathers under the layer they precede, CP ring exchange under attention.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from trainperf.hardware.cluster import ClusterSpec
from trainperf.hardware.spec import GPUSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.axis_terms import OncePerStep, cp_comm, ep_comm, fsdp_comm, once_per_step, tp_comm
from trainperf.parallel.memory import MemoryBreakdown, memory_per_gpu, stage_params, usable_bytes
from trainperf.parallel.opgen import Shard, layer_ops
from trainperf.parallel.optime import op_seconds
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan, Recompute
from trainperf.parallel.schedule import pipeline_time
from trainperf.vocab import ParallelAxis


@dataclass(frozen=True)
class Infeasible:
    """A plan that cannot run, with the reason and the numbers."""

    reason: str
    memory: MemoryBreakdown | None = None


@dataclass(frozen=True, kw_only=True)
class PlanEstimate:
    arch: str
    plan: ParallelPlan
    cluster: str
    gpu: str
    step_time_s: float
    tokens_per_s_per_gpu: float
    model_tflops_per_gpu: float
    mfu: float
    peak_tflops: float
    memory: MemoryBreakdown
    compute_s: dict[str, float] = field(default_factory=dict)
    """Per-step compute time on the busiest rank by op category (recompute included)."""
    exposed_comm_s: dict[str, float] = field(default_factory=dict)
    """Exposed (not overlapped) communication per step, keyed 'collective@axis'."""
    bubble_s: float = 0.0
    optimizer_s: float = 0.0
    overhead_s: float = 0.0


@dataclass(frozen=True)
class _LayerTimes:
    fwd: float
    bwd: float
    attn_fwd: float
    wgrad: float
    by_cat: tuple[tuple[str, float, float], ...]  # (category, fwd, bwd)


@lru_cache(maxsize=8192)
def _layer_times(arch: TransformerArch, shard: Shard, kind: str, gpu: GPUSpec, sustained: bool = True) -> _LayerTimes:
    ops = layer_ops(arch, shard, kind)
    t = op_seconds(ops, gpu, shard.precision, compile=shard.fused, attention=shard.attention, sustained=sustained)
    fwd_mask = (ops["phase"] == "fwd").to_numpy()
    cats = ops["category"].to_numpy()
    attn = (cats == "attention") & fwd_mask
    wgrad = ops["module"].str.ends_with(".wgrad").to_numpy()
    by = tuple((c, float(t[(cats == c) & fwd_mask].sum()), float(t[(cats == c) & ~fwd_mask].sum()))
               for c in np.unique(cats))
    return _LayerTimes(float(t[fwd_mask].sum()), float(t[~fwd_mask].sum()), float(t[attn].sum()),
                       float(t[wgrad].sum()), by)


@lru_cache(maxsize=8192)
def _scaled_layer_times(arch: TransformerArch, shard: Shard, kind: str, gpu: GPUSpec, k: float,
                        sustained: bool = True) -> _LayerTimes:
    """_layer_times with all op times x k (StepModelParams.compute_scale); cached like them. Dense and head
    op tables do not read ep / etp (opgen.layer_ops): one pricing serves every expert layout."""
    if kind != "moe" and (shard.ep != 1 or shard.etp != shard.tp):
        shard = dataclasses.replace(shard, ep=1, etp=shard.tp)
    lt = _layer_times(arch, shard, kind, gpu, sustained)
    if k == 1.0:
        return lt
    return _LayerTimes(lt.fwd * k, lt.bwd * k, lt.attn_fwd * k, lt.wgrad * k,
                       tuple((c, f * k, b * k) for c, f, b in lt.by_cat))


_MEM_MEMO: dict[tuple[object, ...], MemoryBreakdown] = {}
_MEMO_MAX = 1 << 16
"""Speed only: a layout search evaluates ~10^4 plans that share most memory layouts."""


_STAGE_MEMO: dict[tuple[object, ...], tuple[float, float]] = {}


def _stage_params(arch: TransformerArch, plan: ParallelPlan) -> tuple[float, float]:
    """stage_params, memoized on the fields it reads (pp via layers_per_stage, tp, ep, etp)."""
    key = (arch, plan.pp, plan.tp, plan.ep, plan.etp_eff)
    v = _STAGE_MEMO.get(key)
    if v is None:
        v = _STAGE_MEMO[key] = stage_params(arch, plan)
    return v


def _memory(arch: TransformerArch, plan: ParallelPlan) -> MemoryBreakdown:
    """memory_per_gpu, memoized on every plan field it reads (parallel/memory.py), nothing else."""
    key = (arch, plan.tp, plan.pp, plan.cp, plan.ep, plan.etp_eff, plan.dp, plan.shard_group, plan.sharding,
           plan.reshard_per_microbatch, plan.lora, plan.mbs, plan.seq, plan.gbs, plan.sequence_parallel,
           plan.precision, plan.recompute, plan.recompute_layers, plan.vp, plan.fused_cross_entropy)
    mem = _MEM_MEMO.get(key)
    if mem is None:
        mem = memory_per_gpu(arch, plan)
        if len(_MEM_MEMO) >= _MEMO_MAX:
            _MEM_MEMO.clear()
        _MEM_MEMO[key] = mem
    return mem


def _stage_counts(arch: TransformerArch, plan: ParallelPlan) -> tuple[float, float, bool]:
    """(dense layers, MoE layers) on the busiest stage, and whether it also carries the LM head. MoE models put
    their dense layers first (DeepSeek-V3's first_k_dense_replace, Megatron's moe_layer_freq patterns that
    start dense), so with pipeline stages the busiest one holds MoE layers only, as far as there are enough;
    without pipelining the one stage holds the model's mix."""
    lps = plan.layers_per_stage(arch)
    if plan.pp == 1:
        frac_moe = arch.moe_layers / arch.n_layers
        return lps * (1 - frac_moe), lps * frac_moe, True
    n_moe = min(lps, arch.moe_layers)
    return lps - n_moe, n_moe, True


def evaluate(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
             params: StepModelParams = DEFAULT_PARAMS, *, sustained: bool = True,
             check_memory: bool = True) -> PlanEstimate | Infeasible:
    """Step time, throughput, MFU, memory and breakdown of one plan, or Infeasible with the reason.
    ``sustained=False`` prices compute at burst clocks (model.ExecConfig.sustained), as a short benchmark
    runs; the shared parameters (params.py) were fitted at sustained clocks. ``check_memory=False`` prices a
    plan the memory model says does not fit (a measured run that did: validate flags the memory model)."""
    try:
        plan.check(arch)
    except ValueError as e:
        return Infeasible(str(e))
    if cluster.max_gpus and plan.gpus > cluster.max_gpus:
        return Infeasible(f"{plan.gpus} GPUs exceed cluster {cluster.name}'s {cluster.max_gpus}")
    gpu = cluster.gpu
    if plan.precision in ("fp8", "fp4") and not gpu.has_precision(plan.precision):
        return Infeasible(f"{gpu.name} has no {plan.precision} tensor cores; use bf16")
    mem = _memory(arch, plan)
    cap = usable_bytes(gpu.hbm_capacity_GB)
    if check_memory and mem.total > cap:
        parts = ", ".join(f"{k} {v / 2**30:.1f}" for k, v in mem.as_dict().items() if k != "total")
        return Infeasible(f"needs {mem.total / 2**30:.1f} GiB per GPU > {cap / 2**30:.1f} GiB usable on {gpu.name} "
                          f"({parts} GiB); raise tp/pp/zero or recompute", mem)

    terms = stage_terms(arch, plan, cluster, params, sustained=sustained)
    return compose(arch, plan, cluster, mem, terms, params)


def plan_shard(plan: ParallelPlan) -> Shard:
    """The per-rank shapes of one micro-batch under ``plan`` (what the op tables depend on)."""
    return Shard(mbs=plan.mbs, seq=plan.seq, tp=plan.tp, cp=plan.cp, sp=plan.sequence_parallel and plan.tp > 1,
                 ep=plan.ep, etp=plan.etp_eff, precision=plan.precision, fused=plan.fused_kernels,
                 doc_len=plan.packed_doc_len, attention=plan.attention)


@dataclass(frozen=True, slots=True)
class CommTerm:
    """Exposed communication of one collective kind on one parallel axis, over the step."""

    kind: str
    """The collectives, Collective values joined by '+' (a TP block's reduce_scatter+all_gather)."""
    axis: ParallelAxis
    exposed_s: float
    per_step: bool = False
    """Once per step, after the pipeline schedule (DP / HSDP reductions, PP fill and drain, FSDP gathered
    once per step); otherwise inside each micro-batch's stage time."""

    @property
    def key(self) -> str:
        """Its PlanEstimate.exposed_comm_s key: 'kind@axis' ('@fsdp-step' for FSDP once per step)."""
        step = "-step" if self.per_step and self.axis is ParallelAxis.FSDP else ""
        return f"{self.kind}@{self.axis.value}{step}"


class StageTerms(NamedTuple):
    """The terms of one plan's step on its busiest pipeline rank, before they are composed: per-layer compute
    of one micro-batch (recompute and per-layer overheads in), exposed and hidden communication per
    micro-batch by axis, and the raw once-per-step collectives and optimizer. ``compose`` adds them up in
    closed form (1F1B, overlap windows); the simulator (simulate/build.py) lays the same terms out as tasks
    on streams, so each overlap rule has one definition, here. (A NamedTuple: a layout search builds ~10^5 of
    them, and a frozen dataclass of this many fields costs a third of the search's time to construct.)"""

    dense: _LayerTimes | None
    moe: _LayerTimes | None
    head: _LayerTimes
    n_dense: float
    n_moe: float
    head_on: float
    df: float
    db: float
    mf: float
    mb: float
    tp_one: float
    """One TP collective set (AG + RS with SP, else one all-reduce) per block, unexposed."""
    tp_expo: float
    """Exposed share of TP communication (1 without tp_comm_overlap)."""
    tp_blocks_moe: float
    tp_f: float
    tp_b: float
    cp_f: float
    cp_b: float
    ep_f: float
    fsdp_f: float
    fsdp_b: float
    fsdp_once: float
    hidden: float
    """Communication overlapped with compute over the step (s): it slows that compute (interference)."""
    dense_p: float
    expert_p: float
    sp: bool
    t_sp: int
    once: OncePerStep
    """The raw once-per-step terms (axis_terms.once_per_step): one pipeline activation transfer, the DP
    gradient reduction and ZeRO-1/2 parameter all-gather, the HSDP replica all-reduce, the optimizer."""
    cp_hidden: float
    """Per layer per micro-batch: CP ring exchange hidden under forward attention (backward: twice)."""
    ep_hidden: float
    """Per MoE layer per micro-batch: all-to-all hidden under compute (forward + backward)."""
    fsdp_hidden_f: float
    """Per layer per micro-batch: FSDP all-gather prefetched under the forward."""
    fsdp_hidden_b: float
    fsdp_hidden_once: float
    """Once per step (no reshard per micro-batch): gathers and reduces hidden under compute."""


def _layer_compute(arch: TransformerArch, plan: ParallelPlan, params: StepModelParams, dense: _LayerTimes | None,
                   moe: _LayerTimes | None) -> tuple[float, float, float, float]:
    """(dense fwd, dense bwd, MoE fwd, MoE bwd) seconds per layer per micro-batch: recompute, frozen-weight
    LoRA and the per-layer framework overhead in; eager MoE dispatch costs on the MoE layers."""

    def per_layer(lt: _LayerTimes | None) -> tuple[float, float]:
        if lt is None:
            return 0.0, 0.0
        re = lt.fwd * plan.recomputed_fraction(arch) if plan.recompute is Recompute.FULL else (
            lt.attn_fwd if plan.recompute is Recompute.SELECTIVE else 0.0)
        bwd = lt.bwd - (lt.wgrad if plan.lora else 0.0)  # frozen base weights: no weight gradients
        return lt.fwd + params.layer_overhead_s / 2, bwd + re + params.layer_overhead_s / 2

    (df, db), (mf, mb) = per_layer(dense), per_layer(moe)
    if moe is not None and not plan.moe_cuda_graphs:
        # dropless token dispatch in eager mode: host sync for per-expert counts and per-expert launches,
        # fwd and bwd; CUDA-graphed MoE with a fused grouped GEMM pays neither
        fixed = params.moe_layer_overhead_s + params.moe_expert_overhead_s * arch.moe_experts / plan.ep
        mf, mb = mf + fixed / 3, mb + 2 * fixed / 3  # backward runs two GEMMs (dgrad, wgrad) per forward one
    return df, db, mf, mb


def _busiest_rank(arch: TransformerArch, plan: ParallelPlan, n_dense: float, n_moe: float, per: float,
                  head: _LayerTimes) -> tuple[float, float, float]:
    """(head_on, n_dense, n_moe) of the busiest pipeline rank: ceil(L/p) layers, or floor(L/p) layers plus
    the LM head and loss on the last stage, whichever is longer (Megatron balances uneven splits by counting
    the head as a layer). ``per``: mean seconds of one layer (fwd + bwd)."""
    if plan.pp == 1:
        return 1.0, n_dense, n_moe
    lo = arch.n_layers // plan.pp
    if lo < n_dense + n_moe and lo * per + head.fwd + head.bwd <= (n_dense + n_moe) * per:
        return 0.0, n_dense, n_moe
    if lo < n_dense + n_moe:
        scale = lo / (n_dense + n_moe)
        return 1.0, n_dense * scale, n_moe * scale
    return 1.0, n_dense, n_moe


def stage_terms(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
                params: StepModelParams = DEFAULT_PARAMS, *, sustained: bool = True) -> StageTerms:
    """The uncomposed terms of a plan that ParallelPlan and plan.check accepted (evaluate checks memory):
    per-layer compute, then one term per parallel axis, then the once-per-step terms."""
    gpu = cluster.gpu
    shard = plan_shard(plan)
    sp = shard.sp
    k = params.compute_scale
    dense = _scaled_layer_times(arch, shard, "dense", gpu, k, sustained) if arch.dense_layers_count() else None
    moe = _scaled_layer_times(arch, shard, "moe", gpu, k, sustained) if arch.is_moe else None
    head: _LayerTimes = _scaled_layer_times(arch, shard, "head", gpu, k, sustained)
    n_dense, n_moe, _ = _stage_counts(arch, plan)
    df, db, mf, mb = _layer_compute(arch, plan, params, dense, moe)
    per = (n_dense * (df + db) + n_moe * (mf + mb)) / max(n_dense + n_moe, 1e-9)
    head_on, n_dense, n_moe = _busiest_rank(arch, plan, n_dense, n_moe, per, head)
    t = plan.mbs * plan.seq // plan.cp
    t_sp = t // plan.tp if sp else t
    layers = max(n_dense + n_moe, 1.0)

    tp, tp_one, tp_expo, tp_blocks_moe = tp_comm(plan, cluster, params, t * arch.hidden * 2.0, sp, n_dense, n_moe)
    att_f = dense.attn_fwd if dense else moe.attn_fwd if moe else 0.0
    cp = cp_comm(arch, plan, cluster, t, att_f, n_dense + n_moe)
    ep = ep_comm(arch, plan, cluster, params, t_sp, mf, mb, n_moe)
    dense_p, expert_p = _stage_params(arch, plan)
    fs = fsdp_comm(arch, plan, cluster, params, dense_p, expert_p, layers, (n_dense * df + n_moe * mf) / layers,
                    (n_dense * db + n_moe * mb) / layers)
    hidden = 0.0  # communication time overlapped with compute (it still slows the compute it shares)
    for overlapped in (tp.overlapped, cp.overlapped, ep.overlapped, fs.overlapped):
        if overlapped:
            hidden += overlapped
    once = once_per_step(plan, cluster, dense_p, expert_p, t_sp * arch.hidden * 2.0)
    return StageTerms(dense=dense, moe=moe, head=head, n_dense=n_dense, n_moe=n_moe, head_on=head_on, df=df, db=db,
                      mf=mf, mb=mb, tp_one=tp_one, tp_expo=tp_expo, tp_blocks_moe=tp_blocks_moe, tp_f=tp.f,
                      tp_b=tp.b, cp_f=cp.f, cp_b=cp.b, ep_f=ep.f, fsdp_f=fs.f, fsdp_b=fs.b,
                      fsdp_once=fs.once, hidden=hidden, dense_p=dense_p, expert_p=expert_p, sp=sp, t_sp=t_sp,
                      once=once, cp_hidden=cp.hidden_one,
                      ep_hidden=ep.hidden_one, fsdp_hidden_f=fs.hidden_f, fsdp_hidden_b=fs.hidden_b,
                      fsdp_hidden_once=fs.hidden_once)


def compose(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, mem: MemoryBreakdown,
            terms: StageTerms, params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate:
    """The step in closed form from its terms: the pipeline schedule over per-micro-batch stage times, the
    exposed part of each once-per-step collective after its overlap window, optimizer and overheads."""
    gpu = cluster.gpu
    x = terms
    dense, moe, head = x.dense, x.moe, x.head
    n_dense, n_moe, head_on, df, db, mf, mb = x.n_dense, x.n_moe, x.head_on, x.df, x.db, x.mf, x.mb
    tp_f, tp_b, cp_f, cp_b, ep_f, fsdp_f, fsdp_b = x.tp_f, x.tp_b, x.cp_f, x.cp_b, x.ep_f, x.fsdp_f, x.fsdp_b
    fsdp_once, hidden, sp = x.fsdp_once, x.hidden, x.sp
    layers = max(n_dense + n_moe, 1.0)
    terms_out: list[CommTerm] = []

    def add(kind: str, axis: ParallelAxis, v: float, *, per_step: bool = False) -> None:
        if v > 0:
            terms_out.append(CommTerm(kind=kind, axis=axis, exposed_s=v, per_step=per_step))

    t_f = n_dense * df + n_moe * mf + head_on * head.fwd + tp_f + cp_f + ep_f + fsdp_f
    t_b = n_dense * db + n_moe * mb + head_on * head.bwd + tp_b + cp_b + ep_f + fsdp_b
    m = plan.n_micro
    k = params.overlap_interference
    # interference of the per-micro-batch overlaps (TP, CP, EP, FSDP per layer) lengthens every forward and
    # backward unit, so the pipeline schedule carries it through its fill and drain as the simulator does;
    # the once-per-step overlaps (FSDP without resharding, DP below) add it once
    per_micro = k * max(0.0, hidden - x.fsdp_hidden_once) / m
    share_f = t_f / max(t_f + t_b, 1e-30)
    t_f, t_b = t_f + per_micro * share_f, t_b + per_micro * (1.0 - share_f)
    hidden = x.fsdp_hidden_once
    step_pipe, bubble = pipeline_time(t_f, t_b, m, plan.pp, plan.vp)
    if plan.tp > 1:
        add("reduce_scatter+all_gather" if sp else "all_reduce", ParallelAxis.TP, m * (tp_f + tp_b))
    add("send_recv", ParallelAxis.CP, m * (cp_f + cp_b))
    add("all_to_all", ParallelAxis.EP, m * 2 * ep_f)
    add("all_gather+reduce_scatter", ParallelAxis.FSDP, m * (fsdp_f + fsdp_b))
    add("all_gather+reduce_scatter", ParallelAxis.FSDP, fsdp_once, per_step=True)
    # --- PP: activation send/recv on the fill/drain path (steady-state transfers overlap) ---
    if plan.pp > 1:
        add("send_recv", ParallelAxis.PP, 2 * (plan.pp - 1) * plan.vp * x.once.pp_p2p, per_step=True)
    # --- DP gradient reduction (and ZeRO-1/2 parameter all-gather), overlapped with the last backward ---
    if x.once.dp_reduce > 0:
        red = x.once.dp_reduce
        window = t_b * (1 - 1 / layers) if plan.overlap_grad_reduce else 0.0
        add(x.once.dp_kind.value, ParallelAxis.DP, max(0.0, red - window) + (red / layers if plan.overlap_grad_reduce else 0.0),
            per_step=True)
        hidden += min(red, window)
        if x.once.dp_gather > 0:
            window = t_f * (1 - 1 / layers) if plan.overlap_param_gather else 0.0
            add("all_gather", ParallelAxis.DP, max(0.0, x.once.dp_gather - window), per_step=True)
            hidden += min(x.once.dp_gather, window)
    add("all_reduce", ParallelAxis.HSDP, x.once.hsdp, per_step=True)
    optimizer = x.once.optimizer
    # the per-micro-batch terms are inside the pipeline schedule (t_f, t_b); the once-per-step ones add to it
    dp_exposed = sum(c.exposed_s for c in terms_out if c.per_step)
    comm: dict[str, float] = {}
    for c in terms_out:
        comm[c.key] = comm.get(c.key, 0.0) + c.exposed_s
    interference = k * hidden
    step = step_pipe + dp_exposed + optimizer + interference + params.step_overhead_s
    tokens = plan.tokens_per_step / plan.gpus / step
    prec = plan.precision if gpu.has_precision(plan.precision) else "bf16"
    peak = gpu.peak_tflops(prec)
    model_tflops = arch.model_flops_per_token(plan.seq) * tokens / 1e12
    compute: dict[str, float] = {}
    for lt, n in ((dense, n_dense), (moe, n_moe), (head, head_on)):  # type: ignore[assignment]
        if lt is None:
            continue
        for cat, f, b in lt.by_cat:
            compute[cat] = compute.get(cat, 0.0) + m * n * (f + b)
        if plan.recompute is not Recompute.NONE and lt is not head:
            re = lt.fwd * plan.recomputed_fraction(arch) if plan.recompute is Recompute.FULL else lt.attn_fwd
            compute["recompute"] = compute.get("recompute", 0.0) + m * n * re
    return PlanEstimate(
        arch=arch.name, plan=plan, cluster=cluster.name, gpu=gpu.name, step_time_s=step,
        tokens_per_s_per_gpu=tokens, model_tflops_per_gpu=model_tflops, mfu=model_tflops / peak,
        peak_tflops=peak, memory=mem, compute_s=compute, exposed_comm_s=comm, bubble_s=bubble,
        optimizer_s=optimizer, overhead_s=params.step_overhead_s + interference + m * per_micro,
    )


def fits(arch: TransformerArch, plan: ParallelPlan, gpu: GPUSpec) -> bool:
    return memory_per_gpu(arch, plan).total <= usable_bytes(gpu.hbm_capacity_GB)

