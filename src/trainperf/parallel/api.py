"""Library entry points the CLI calls: plan one model on a cluster from command-line style arguments.

``plan_from_args`` turns the arguments `trainperf plan` and `trainperf predict --cluster` take into an
architecture, a ParallelPlan and a ClusterSpec, refusing with one line what cannot apply (a sequence
beyond the model's positions, a GPU count no cluster has); ``predict_plan`` / ``predict_plan_auto``
evaluate it. No torch: zoo LLMs come from the shipped table (parallel/zoo_arch.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainperf import vocab
from trainperf.hardware.cluster import ClusterSpec, get_cluster
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.estimate import Infeasible, PlanEstimate, evaluate
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding
from trainperf.workloads.registry import MAX_BATCH, MAX_SEQ  # one bound for the single-GPU and cluster paths

MAX_GPUS = 1 << 20
"""Largest job accepted (1,048,576 GPUs): beyond any cluster built or announced (the largest are ~10^5)."""
PLAN_PRECISIONS = (*(p.value for p in vocab.PLAN_PRECISIONS), "auto")


def resolve_arch(model: str | TransformerArch) -> TransformerArch:
    if isinstance(model, TransformerArch):
        return model
    from trainperf.parallel.zoo_arch import arch_from_workload

    return arch_from_workload(model)


def model_max_seq(model: str | TransformerArch) -> int:
    """The model's position limit (0 = none stated): GPT-2's 1,024 learned positions, for example."""
    if isinstance(model, TransformerArch):
        return 0
    from trainperf.parallel.zoo_arch import zoo_entry

    return zoo_entry(model).max_seq


def parse_scale(text: str) -> dict[str, float]:
    """'hbm_bw=2,bf16=1.5' -> {'hbm_bw': 2.0, 'bf16': 1.5} (keys checked by GPUSpec.scaled)."""
    factors: dict[str, float] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        try:
            v = float(val)
        except ValueError:
            v = math.nan
        if not sep or not math.isfinite(v):
            raise ValueError(f"--scale {item!r}: expected KEY=FACTOR with a finite number, e.g. hbm_bw=2")
        factors[key.strip()] = v
    return factors


def resolve_cluster(cluster: str | ClusterSpec, *, gpu: str | None = None, scale: str | None = None) -> ClusterSpec:
    """A cluster by name, TOML path or spec; ``gpu`` swaps its GPU part and ``scale`` scales that GPU's
    numbers (hypothetical hardware, as `predict --scale` does for one GPU)."""
    spec = get_cluster(cluster) if isinstance(cluster, str) else cluster
    if gpu:
        spec = spec.with_gpu(gpu)
    if scale:
        spec = spec.with_gpu(spec.gpu.scaled(f"{spec.gpu.name} scaled {scale}", **parse_scale(scale)))
    return spec


def _bounded(flag: str, v: int, hi: int, why: str) -> None:
    if v < 1 or v > hi:
        raise ValueError(f"{flag} {v}: must be in 1..{hi:,} ({why})")


def check_job(model: str | TransformerArch, *, gpus: int, seq: int, gbs: int | None = None) -> None:
    """Refuse in one line a job size that no model or cluster can take."""
    _bounded("--gpus", gpus, MAX_GPUS, "larger than any cluster")
    limit = model_max_seq(model)
    if limit and seq > limit:
        name = model if isinstance(model, str) else model.name
        raise ValueError(f"--seq {seq}: {name} has {limit:,} positions; use --seq <= {limit}")
    _bounded("--seq", seq, MAX_SEQ, "longer than any trained context")
    if gbs is not None:
        _bounded("--gbs", gbs, MAX_BATCH, "sequences per step")


def default_seq(model: str | TransformerArch, seq: int | None) -> int:
    """``seq``, or 8,192 tokens capped at the model's positions (GPT-2: 1,024)."""
    if seq is not None:
        return seq
    limit = model_max_seq(model)
    return min(8192, limit) if limit else 8192


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    """One layout of one job, resolved from arguments: what predict_request evaluates."""

    arch: TransformerArch
    plan: ParallelPlan
    cluster: ClusterSpec
    auto_recompute: bool
    sustained: bool = True


def plan_from_args(model: str | TransformerArch, *, cluster: str | ClusterSpec = "dgx-h100", gpus: int = 8,
                   tp: int = 1, pp: int = 1, cp: int = 1, ep: int = 1, etp: int = 0, vp: int = 1, mbs: int = 1,
                   gbs: int | None = None, seq: int | None = None, zero: str | None = None, shard_group: int = 0,
                   recompute: str = "auto", precision: str = "bf16", gpu: str | None = None,
                   scale: str | None = None, tp_overlap: bool | None = None, fused: bool | None = None,
                   attention: str | None = None, moe_cuda_graphs: bool = False, ep_dispatcher: str = "alltoall",
                   sustained: bool = True, framework: str | None = None) -> PlanRequest:
    """The arguments of `trainperf plan` (and of `predict --cluster`) as a PlanRequest; ValueError with one
    line naming the flag for anything that cannot apply. ``gbs`` None = one micro-batch per data-parallel
    rank; ``recompute="auto"`` = the least recomputation that fits; ``precision="auto"`` = fp8 where the
    GPU has fp8 tensor cores, else bf16. ``framework`` (parallel/framework.py) sets the stack's defaults;
    ``zero``, ``tp_overlap``, ``fused`` and ``attention`` given explicitly win over them (None: the
    framework's, or without one zero1, TP overlap on, fused kernels, flash2)."""
    from trainperf.parallel.framework import preset
    from trainperf.vocab import choice

    stack_preset = preset(framework) if framework is not None else None
    fw = stack_preset.plan_fields(pp=pp) if stack_preset else {}
    fw_zero = stack_preset.sharding.value if stack_preset else "zero1"
    given = {"tp_comm_overlap": tp_overlap, "fused_kernels": fused, "attention": attention}
    stack = {**{"tp_comm_overlap": True, "fused_kernels": True, "attention": "flash2"}, **fw,
             **{k: v for k, v in given.items() if v is not None}}
    zero = zero if zero is not None else fw_zero

    arch = resolve_arch(model)
    spec = resolve_cluster(cluster, gpu=gpu, scale=scale)
    seq = default_seq(model, seq)
    check_job(model, gpus=gpus, seq=seq, gbs=gbs)
    sharding = choice(Sharding, zero, "--zero")
    rc = Recompute.NONE if recompute == "auto" else choice(Recompute, recompute, "--recompute", extra=("auto",))
    if precision not in PLAN_PRECISIONS:
        raise ValueError(f"--precision {precision!r}: choose one of {', '.join(PLAN_PRECISIONS)} on a cluster")
    if precision == "auto":
        precision = "fp8" if spec.gpu.has_precision("fp8") else "bf16"
    dp = gpus // max(1, tp * pp * cp)
    plan = ParallelPlan(gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, vp=vp, mbs=mbs,
                        gbs=gbs if gbs is not None else mbs * max(dp, 1), seq=seq, sharding=sharding,
                        shard_group=shard_group, recompute=rc, precision=precision,
                        moe_cuda_graphs=moe_cuda_graphs, ep_dispatcher=ep_dispatcher, **stack)
    return PlanRequest(arch=arch, plan=plan, cluster=spec, auto_recompute=recompute == "auto", sustained=sustained)


def predict_request(req: PlanRequest, params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate | Infeasible:
    """Evaluate a PlanRequest (with auto recompute: the least recomputation that fits)."""
    from trainperf.parallel.memory import recompute_candidates

    req.plan.check(req.arch)
    options = (recompute_candidates(req.arch, req.plan, req.cluster.gpu.hbm_capacity_GB) if req.auto_recompute
               else [req.plan])
    est: PlanEstimate | Infeasible = Infeasible("no plan evaluated")
    for p in options:
        est = evaluate(req.arch, p, req.cluster, params, sustained=req.sustained)
        if isinstance(est, PlanEstimate):
            return est
    return est


def predict_plan(model: str | TransformerArch, plan: ParallelPlan, cluster: str | ClusterSpec,
                 *, gpu: str | None = None, params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate | Infeasible:
    """Step time, throughput, MFU, memory and breakdown of ``model`` (a zoo LLM name or a TransformerArch)
    laid out by ``plan`` on ``cluster`` (a bundled name, a TOML path or a ClusterSpec); ``gpu`` swaps the
    cluster's GPU part. Raises ValueError for a plan that cannot describe this model (tp vs heads...)."""
    arch = resolve_arch(model)
    spec = resolve_cluster(cluster, gpu=gpu)
    plan.check(arch)
    return evaluate(arch, plan, spec, params)


def predict_plan_auto(model: str | TransformerArch, plan: ParallelPlan, cluster: str | ClusterSpec, *,
                      gpu: str | None = None, auto_recompute: bool = False,
                      params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate | Infeasible:
    """predict_plan; with ``auto_recompute`` the least recomputation that fits (none, selective, full on the
    fewest layers, full)."""
    req = PlanRequest(arch=resolve_arch(model), plan=plan, cluster=resolve_cluster(cluster, gpu=gpu),
                      auto_recompute=auto_recompute)
    return predict_request(req, params)
