"""Library entry points the CLI calls: plan one model on a cluster, or validate a published-format CSV."""

from __future__ import annotations

from trainperf.hardware.cluster import ClusterSpec, get_cluster
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.estimate import Infeasible, PlanEstimate, evaluate
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan


def predict_plan(model: str | TransformerArch, plan: ParallelPlan, cluster: str | ClusterSpec,
                 *, gpu: str | None = None, params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate | Infeasible:
    """Step time, throughput, MFU, memory and breakdown of ``model`` (a zoo LLM name or a TransformerArch)
    laid out by ``plan`` on ``cluster`` (a bundled name, a TOML path or a ClusterSpec); ``gpu`` swaps the
    cluster's GPU part. Raises ValueError for a plan that cannot describe this model (tp vs heads...)."""
    if isinstance(model, str):
        from trainperf.parallel.zoo_arch import arch_from_workload

        arch = arch_from_workload(model)
    else:
        arch = model
    spec = get_cluster(cluster) if isinstance(cluster, str) else cluster
    if gpu:
        spec = spec.with_gpu(gpu)
    plan.check(arch)
    return evaluate(arch, plan, spec, params)


def predict_plan_auto(model: str | TransformerArch, plan: ParallelPlan, cluster: str | ClusterSpec, *,
                      gpu: str | None = None, auto_recompute: bool = False,
                      params: StepModelParams = DEFAULT_PARAMS) -> PlanEstimate | Infeasible:
    """predict_plan; with ``auto_recompute`` the least recomputation that fits (none, selective, full on the
    fewest layers, full)."""
    from trainperf.parallel.memory import recompute_candidates

    if isinstance(model, str):
        from trainperf.parallel.zoo_arch import arch_from_workload

        model = arch_from_workload(model)
    spec = get_cluster(cluster) if isinstance(cluster, str) else cluster
    if gpu:
        spec = spec.with_gpu(gpu)
    options = recompute_candidates(model, plan, spec.gpu.hbm_capacity_GB) if auto_recompute else [plan]
    est: PlanEstimate | Infeasible = Infeasible("no plan evaluated")
    for p in options:
        est = predict_plan(model, p, spec, params=params)
        if isinstance(est, PlanEstimate):
            return est
    return est
