"""The few shared, fitted parameters of the distributed step model, each with what it was fitted on.

Everything else is mechanism (per-op costs, collectives on cited link data, pipeline schedules, memory).
These values are shared by every row, source and GPU: no per-row or per-source correction exists.
Fitted by ``benchmarks/bench_validate.py --fit`` (validation/fit.py: coordinate descent on a grid; objective: the mean over
the groups A100, H100, B200, GB200, dense and MoE of median / 10% + p90 / 25% of |error| of tokens/s/GPU,
the validation targets as units) on the *fit split* of shared/data/published: source families llm-foundry,
Megatron-Bridge (all releases) and NeMo 24.07 (390 rows). The held-out split (torchtitan, Megatron SC21,
Megatron-LM H100 README, FlashAttention-2 paper and repo, NeMo 24.03 long-sequence: 95 rows) is never used
to fit; docs/parallel.md reports both. The values depend on the single-GPU model's calibration
(model/data/calibration.toml, including its sustained-clock fraction): refit when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class StepModelParams:
    compute_scale: float = 1.08
    """Multiplier on the single-GPU model's op times for the kernels and waits a framework runs that the
    analytic op tables (opgen) leave out: casts, bias and dropout kernels, allocator and stream waits. The
    sustained-clock derate is not in it: op times come from the single-GPU model in sustained mode
    (model/data/calibration.toml [power] sustained_frac), shared with single-GPU predictions. For scale:
    the eager captured Llama-3.1-8B step (HF modules) prices at 1.16-1.35x the analytic tables' time."""
    exposed_a2a_fraction: float = 0.25
    """Share of MoE dispatch/combine all-to-all not hidden behind expert / shared-expert compute
    (Megatron-Core overlaps a2a with the other micro-batch's compute in 1F1B; DeepEP-style)."""
    exposed_tp_fraction: float = 0.4
    """Share of TP (sequence-parallel) all-gather / reduce-scatter time left exposed when the plan overlaps
    TP communication with GEMMs (tp_comm_overlap: userbuffers / async TP); without overlap it is all exposed."""
    overlap_interference: float = 0.5
    """Compute slowdown per second of communication overlapped with it: NCCL kernels occupy SMs (up to
    32 channels, one SM each) and HBM bandwidth while they run, so hidden comm is not free."""
    moe_layer_overhead_s: float = 1e-3
    """Per MoE layer per micro-batch (forward + backward) fixed cost of dropless token dispatch: the
    device-to-host sync for per-expert token counts (all-to-all split sizes, grouped-GEMM shapes) stalls
    the launch queue, and permutation launches many small kernels (Megatron-Core alltoall dispatcher
    without CUDA graphs)."""
    moe_expert_overhead_s: float = 2.5e-4
    """Per local expert per MoE layer per micro-batch (forward + backward): Transformer Engine's grouped
    linear runs one GEMM, one input quantize and one gradient quantize per expert, forward, dgrad and wgrad,
    each a separate kernel launch (and fp8 scale bookkeeping), so a rank holding many experts (small ep)
    pays launch and tail costs that grow with experts per rank, not with tokens."""
    list_copy_s: float = 1.0e-5
    """Host cost of one ``copy_`` of a list-API collective (plan.list_api_collectives): one aten op
    dispatched from C++ plus one kernel launch, model/data/calibration.toml [host] eager_bwd_op_s (6 us) +
    launch_s (4 us). The copies are launched after a blocking collective, so the GPU waits for them."""
    step_overhead_s: float = 0.0
    """Fixed per-step cost (optimizer launch, data loader, logging, clip-grad norm all-reduce)."""
    layer_overhead_s: float = 2e-4
    """Per micro-batch per layer host/framework cost (hooks, small kernels not in the op table)."""


DEFAULT_PARAMS = StepModelParams()
