"""ParallelPlan: how one training step is laid out over GPUs, validated with the numbers.

Rank order is Megatron's (tp fastest, then cp, then dp, then pp): a tp group is ``tp`` consecutive
ranks, a cp group has stride tp, a dp group stride tp*cp, a pp group stride tp*cp*dp. Expert layers
re-fold the tp*cp*dp ranks of a stage into etp x ep x edp (Megatron-Core "MoE parallel folding").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from trainperf.parallel.arch import TransformerArch
from trainperf.vocab import PLAN_PRECISIONS, Precision

EP_DISPATCHERS = ("alltoall", "hierarchical")


class Recompute(StrEnum):
    NONE = "none"
    SELECTIVE = "selective"  # core attention recomputed (Korthikanti et al. 2022, sec. 5)
    FULL = "full"  # whole layer forward recomputed in backward


class Sharding(StrEnum):
    """Data-parallel state sharding: ZeRO stages (0 = plain DDP); FSDP FULL_SHARD = zero3."""

    DDP = "ddp"
    ZERO1 = "zero1"  # optimizer states (Megatron distributed optimizer)
    ZERO2 = "zero2"  # + gradients (FSDP SHARD_GRAD_OP)
    ZERO3 = "zero3"  # + parameters (FSDP FULL_SHARD, FSDP2, Megatron-FSDP)


PRECISIONS = tuple(p.value for p in PLAN_PRECISIONS)


@dataclass(frozen=True, kw_only=True)
class ParallelPlan:
    """A parallel layout and batch for one training step. Sizes are GPU counts (degrees)."""

    gpus: int
    tp: int = 1
    """Tensor parallel degree (Megatron column/row split of matmuls and heads)."""
    pp: int = 1
    """Pipeline stages."""
    cp: int = 1
    """Context parallel: sequence split across ranks, ring attention."""
    ep: int = 1
    """Expert parallel degree (MoE layers only; carved out of the tp*cp*dp ranks of a stage)."""
    etp: int = 0
    """Expert tensor parallel degree; 0 = same as tp."""
    vp: int = 1
    """Virtual pipeline stages per rank (interleaved 1F1B when > 1)."""
    mbs: int = 1
    """Micro-batch size, sequences per pipeline micro-batch per data-parallel rank."""
    gbs: int = 1
    """Global batch size, sequences per optimizer step."""
    seq: int = 2048
    sequence_parallel: bool = True
    """Shard norms/dropouts along the sequence across the tp group (Megatron SP); only matters if tp > 1."""
    sharding: Sharding = Sharding.ZERO1
    shard_group: int = 0
    """HSDP: ranks that shard the state (the rest replicate); 0 = the whole dp group."""
    recompute: Recompute = Recompute.NONE
    recompute_layers: int = 0
    """Full recompute of only this many layers per pipeline rank, the rest keep their activations
    (Megatron recompute_method=block, recompute_num_layers); 0 = every layer. Only with recompute=full."""
    packed_doc_len: int = 0
    """Sequence packing: documents of this mean length (tokens) packed into each sequence, attention masked
    per document (Transformer Engine THD / flash varlen), so attention work scales with the document, not
    the sequence; 0 = one document per sequence."""
    precision: str = "bf16"
    """Matmul precision: bf16 | fp16 | fp8 | fp4 (attention stays in 16-bit)."""
    grad_reduce_bytes: int = 2
    """Bytes per gradient element on the wire (2 = bf16 reduce, 4 = fp32 reduce)."""
    overlap_grad_reduce: bool = True
    """Data-parallel gradient reduce-scatter / all-reduce overlapped with backward (bucketed)."""
    overlap_param_gather: bool = True
    """FSDP / ZeRO-3 parameter all-gather prefetched under the previous layer's compute."""
    reshard_per_microbatch: bool = True
    """ZeRO-3 / FSDP: gather parameters and reduce-scatter gradients for every micro-batch (FSDP with
    gradient accumulation, Megatron-FSDP). False: gather once per step and keep the stage unsharded,
    accumulate unsharded gradients and reduce them once after the last backward (PyTorch pipelining
    schedules with FSDP2: reshard_after_forward=False, gradient sync only on the last micro-batch), at
    the cost of the stage's unsharded weights and gradients in memory."""
    gather_collectives_per_layer: int = 1
    """ZeRO-3 / FSDP collectives per layer per gather (and per gradient reduce): 1 when the framework
    flattens a layer's parameters into one buffer (PyTorch FSDP units, FSDP2, Megatron-FSDP); the number
    of parameter tensors when it partitions and gathers each tensor on its own (DeepSpeed ZeRO-3 of 2021).
    Each collective pays the ring latency, (n-1) steps, which dominates at hundreds of ranks."""
    list_api_collectives: bool = False
    """ZeRO-3 gathers and gradient reduce-scatters go through torch.distributed's list API
    (``all_gather(tensor_list, t)``): ProcessGroupNCCL flattens the list into one buffer and copies each of
    the group's n tensors out (in, for reduce-scatter) with its own ``copy_``
    (torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp, allgather / reduce_scatter), n launches per call.
    DeepSpeed ZeRO-3 of 2021 did; ``all_gather_into_tensor`` and FSDP's flat buffers avoid the copies."""
    tp_comm_overlap: bool = False
    """TP all-gather / reduce-scatter overlapped with GEMMs (userbuffers, async TP)."""
    fused_kernels: bool = False
    """Elementwise / norm chains run fused (torch.compile, Transformer Engine, Apex); eager PyTorch otherwise."""
    attention: str = "flash2"
    """Attention kernel family (model.ExecConfig.attention): flash2 (flash-attn 2, PyTorch SDPA flash) or
    cudnn (Transformer Engine's cuDNN fused attention, Megatron / NeMo)."""
    fused_cross_entropy: bool = False
    """Loss as one vocab-parallel fused kernel keeping the fp32 softmax and writing its gradient in place
    (Megatron-Core); False: PyTorch cross-entropy (bf16 logits, fp32 upcast, fp32 log-softmax saved, fp32
    gradient at the start of backward). Sets the loss's peak memory on the last stage."""
    moe_cuda_graphs: bool = False
    """MoE layers run with their host-side work captured in CUDA graphs and the local experts in one fused
    grouped GEMM (Megatron-Core TE-scoped graphs of moe_router / moe_preprocess or full-iteration graphs,
    with CuTeDSL fused grouped GEMM): the per-layer token-count sync and the per-local-expert launches
    (StepModelParams.moe_layer_overhead_s, moe_expert_overhead_s) are not paid."""
    ep_dispatcher: str = "alltoall"
    """MoE token dispatcher: alltoall (NCCL all-to-all, every top-k copy sent on its own) or hierarchical
    (DeepEP / HybridEP: one copy per destination NVLink domain over the network, NVLink fan-out there);
    the two differ only when the expert-parallel group spans NVLink domains."""
    lora: bool = False
    """Parameter-efficient fine-tuning: base weights frozen (no weight gradients, optimizer or gradient
    reduction for them); adapter cost is neglected."""
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """Free-form (key, value) notes carried into reports."""

    def __post_init__(self) -> None:
        for f in ("gpus", "tp", "pp", "cp", "ep", "vp", "mbs", "gbs", "seq"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"plan: {f} = {v!r} must be an integer >= 1")
        if self.etp < 0:
            raise ValueError(f"plan: etp = {self.etp} must be >= 0 (0 = same as tp)")
        object.__setattr__(self, "sharding", Sharding(self.sharding))
        object.__setattr__(self, "recompute", Recompute(self.recompute))
        if self.precision not in PRECISIONS:
            raise ValueError(f"plan: precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        object.__setattr__(self, "precision", Precision(self.precision))
        mp = self.tp * self.pp * self.cp
        if self.gpus % mp:
            raise ValueError(f"plan: gpus = {self.gpus} is not a multiple of tp*pp*cp = {self.tp}*{self.pp}*"
                             f"{self.cp} = {mp}; choose gpus = dp*{mp}")
        per_step = self.mbs * self.dp
        if self.gbs % per_step:
            raise ValueError(f"plan: gbs = {self.gbs} is not a multiple of mbs*dp = {self.mbs}*{self.dp} = "
                             f"{per_step}; use gbs = {max(1, round(self.gbs / per_step)) * per_step}")
        stage_ranks = self.tp * self.cp * self.dp
        if stage_ranks % (self.etp_eff * self.ep):
            raise ValueError(f"plan: etp*ep = {self.etp_eff}*{self.ep} must divide tp*cp*dp = {stage_ranks}")
        if self.vp > 1 and self.pp == 1:
            raise ValueError(f"plan: vp = {self.vp} needs pp > 1 (interleaving splits pipeline stages)")
        if self.vp > 1 and self.n_micro % self.pp:
            raise ValueError(f"plan: interleaved schedule needs micro-batches ({self.n_micro}) to be a multiple "
                             f"of pp = {self.pp}")
        if self.cp > 1 and self.seq % (2 * self.cp):
            raise ValueError(f"plan: seq = {self.seq} must be a multiple of 2*cp = {2 * self.cp} "
                             "(load-balanced ring attention)")
        if self.shard_group and (self.dp % self.shard_group or self.sharding is Sharding.DDP):
            raise ValueError(f"plan: shard_group = {self.shard_group} must divide dp = {self.dp} and needs "
                             "sharding zero1..3")
        if self.recompute_layers < 0 or (self.recompute_layers and self.recompute is not Recompute.FULL):
            raise ValueError(f"plan: recompute_layers = {self.recompute_layers} must be >= 0 and needs recompute=full")
        if self.packed_doc_len < 0 or self.packed_doc_len > self.seq:
            raise ValueError(f"plan: packed_doc_len = {self.packed_doc_len} must be in 0..seq = {self.seq}")
        if self.gather_collectives_per_layer < 1:
            raise ValueError(f"plan: gather_collectives_per_layer = {self.gather_collectives_per_layer} must be >= 1")
        if self.ep_dispatcher not in EP_DISPATCHERS:
            raise ValueError(f"plan: ep_dispatcher = {self.ep_dispatcher!r} not in {EP_DISPATCHERS}")
        if self.grad_reduce_bytes not in (2, 4):
            raise ValueError(f"plan: grad_reduce_bytes = {self.grad_reduce_bytes} must be 2 or 4")

    @property
    def dp(self) -> int:
        return self.gpus // (self.tp * self.pp * self.cp)

    @property
    def etp_eff(self) -> int:
        return self.etp or self.tp

    @property
    def edp(self) -> int:
        """Expert data-parallel degree: replicas of each expert within a stage."""
        return self.tp * self.cp * self.dp // (self.etp_eff * self.ep)

    @property
    def n_micro(self) -> int:
        return self.gbs // (self.mbs * self.dp)

    @property
    def shard_size(self) -> int:
        return self.shard_group or self.dp

    @property
    def tokens_per_step(self) -> int:
        return self.gbs * self.seq

    def check(self, arch: TransformerArch) -> None:
        """Raise ValueError naming the numbers when the plan cannot run this architecture."""
        if arch.n_heads % self.tp:
            raise ValueError(f"plan: tp = {self.tp} does not divide n_heads = {arch.n_heads} of {arch.name}")
        kv = arch.n_kv_heads
        if kv % self.tp and self.tp % kv:
            raise ValueError(f"plan: tp = {self.tp} and n_kv_heads = {kv} of {arch.name}: one must divide the other")
        if self.pp * self.vp > arch.n_layers + 2:
            # Megatron may count the embedding and the loss as one layer each in the pipeline split
            raise ValueError(f"plan: pp*vp = {self.pp}*{self.vp} = {self.pp * self.vp} stages exceed "
                             f"n_layers + 2 = {arch.n_layers + 2} of {arch.name}")
        if self.ep > 1 and not arch.is_moe:
            raise ValueError(f"plan: ep = {self.ep} but {arch.name} has no experts; use ep = 1")
        if arch.is_moe and arch.moe_experts % self.ep:
            raise ValueError(f"plan: ep = {self.ep} does not divide moe_experts = {arch.moe_experts} of {arch.name}")
        if self.sequence_parallel and self.tp > 1 and (self.seq // self.cp) % self.tp:
            raise ValueError(f"plan: sequence parallel needs seq/cp = {self.seq // self.cp} divisible by tp = {self.tp}")

    def layers_per_stage(self, arch: TransformerArch) -> int:
        """Layers on the busiest pipeline rank (uneven splits put the remainder on some ranks)."""
        return math.ceil(arch.n_layers / self.pp)

    def recomputed_fraction(self, arch: TransformerArch) -> float:
        """Share of a rank's layers that recompute their forward (full recompute); 0 otherwise."""
        if self.recompute is not Recompute.FULL:
            return 0.0
        lps = self.layers_per_stage(arch)
        return min(self.recompute_layers, lps) / lps if self.recompute_layers else 1.0

    def describe(self) -> str:
        parts = [f"gpus={self.gpus}", f"tp={self.tp}", f"pp={self.pp}", f"cp={self.cp}", f"dp={self.dp}"]
        if self.ep > 1:
            parts.append(f"ep={self.ep}" + (f" etp={self.etp_eff}" if self.etp_eff != self.tp else ""))
        if self.vp > 1:
            parts.append(f"vp={self.vp}")
        if self.moe_cuda_graphs and self.ep > 1:
            parts.append("moe-cuda-graphs")
        if self.ep_dispatcher != "alltoall" and self.ep > 1:
            parts.append(f"dispatcher={self.ep_dispatcher}")
        parts += [f"mbs={self.mbs}", f"gbs={self.gbs}", f"seq={self.seq}", self.sharding.value,
                  f"recompute={self.recompute.value}"
                  + (f"({self.recompute_layers} layers)" if self.recompute_layers else ""), self.precision]
        return " ".join(parts)
