"""Training frameworks as the distributed model sees them: the settings each one runs by default.

A framework preset is the ParallelPlan fields a stack sets without being asked: which attention kernels
run, whether elementwise chains are fused, whether TP communication overlaps GEMMs, how ZeRO-3 gathers
parameters, whether the loss is one fused kernel, and how FSDP reshards under pipelining. It never scales
a prediction: every field is a mechanism the model prices. `trainperf plan --framework F` applies one (a
flag given explicitly wins), and the published-run validation uses the same presets for each source's
stack (validation/published.py), so there is one definition of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trainperf.parallel.plan import Sharding


class Framework(StrEnum):
    MEGATRON_CORE = "megatron-core"
    """Megatron-LM / Megatron-Core with Transformer Engine (also NeMo 2 and Megatron-Bridge recipes)."""
    MEGATRON_LM = "megatron-lm"
    """Megatron-LM of 2021 (Narayanan et al., SC'21): Apex fused kernels, vocab-parallel cross-entropy,
    no Transformer Engine."""
    MEGATRON_DEEPSPEED = "megatron-deepspeed"
    """Megatron-LM models on DeepSpeed ZeRO-3 as the SC'21 paper compares it (DeepSpeed v0.3-0.5)."""
    TORCHTITAN = "torchtitan"
    """PyTorch-native: FSDP2, SDPA flash attention, torch.compile, async TP optional."""
    LLM_FOUNDRY = "llm-foundry"
    """MosaicML Composer + PyTorch FSDP, flash-attn 2, fused cross-entropy, eager elementwise ops."""
    FLASH_ATTN = "flash-attn-training"
    """The FlashAttention repository's GPT training scripts (PyTorch Lightning with flash-attn's fused
    MLP, LayerNorm and cross-entropy kernels)."""
    HF_TRAINER = "hf-trainer"
    """Hugging Face Trainer on transformers models: DDP, SDPA attention, eager PyTorch ops."""


@dataclass(frozen=True, kw_only=True)
class FrameworkPreset:
    """The ParallelPlan fields a framework sets by default, with where each comes from."""

    attention: str
    fused_kernels: bool
    tp_comm_overlap: bool
    fused_cross_entropy: bool
    sharding: Sharding
    """What its recipes use when the layout does not say (Megatron: the distributed optimizer)."""
    gather_collectives_per_layer: int = 1
    list_api_collectives: bool = False
    overlap_param_gather: bool = True
    reshard_with_pp: bool = True
    """ZeRO-3 / FSDP stages reshard per micro-batch also under pipeline parallelism."""
    source: str = ""

    def plan_fields(self, *, pp: int = 1) -> dict[str, Any]:
        """The ParallelPlan keyword arguments of this preset for a plan with ``pp`` stages."""
        return {"attention": self.attention, "fused_kernels": self.fused_kernels,
                "tp_comm_overlap": self.tp_comm_overlap, "fused_cross_entropy": self.fused_cross_entropy,
                "gather_collectives_per_layer": self.gather_collectives_per_layer,
                "list_api_collectives": self.list_api_collectives,
                "overlap_param_gather": self.overlap_param_gather,
                "reshard_per_microbatch": self.reshard_with_pp or pp == 1}


_DEEPSPEED_TENSORS_PER_LAYER = 12
"""DeepSpeed ZeRO-3 (v0.3-0.5, SC'21 Table 2) partitions and all-gathers each parameter tensor on its own,
blocking, at submodule granularity: a GPT layer has 12 (QKV, projection, fc1, fc2 weights and biases; two
LayerNorms' weight and bias)."""

PRESETS: dict[Framework, FrameworkPreset] = {
    Framework.MEGATRON_CORE: FrameworkPreset(
        attention="cudnn", fused_kernels=True, tp_comm_overlap=True, fused_cross_entropy=True,
        sharding=Sharding.ZERO1,
        source="Transformer Engine DotProductAttention (cuDNN fused attention backend), TE fused LayerNorm-"
               "linear and bias-GeLU; --tp-comm-overlap (userbuffers) and --use-distributed-optimizer in the "
               "NeMo / Megatron-Bridge performance recipes; vocab-parallel cross-entropy "
               "(megatron/core/tensor_parallel/cross_entropy.py)"),
    Framework.MEGATRON_LM: FrameworkPreset(
        attention="flash2", fused_kernels=True, tp_comm_overlap=False, fused_cross_entropy=True,
        sharding=Sharding.ZERO1,
        source="Narayanan et al., SC'21: Apex fused LayerNorm / bias-GeLU / scaled masked softmax, vocab-"
               "parallel cross-entropy, no TP overlap. Predates flash attention; priced at flash2 rates "
               "(the model has no unfused-attention kernel family)"),
    Framework.MEGATRON_DEEPSPEED: FrameworkPreset(
        attention="flash2", fused_kernels=True, tp_comm_overlap=False, fused_cross_entropy=True,
        sharding=Sharding.ZERO3, gather_collectives_per_layer=_DEEPSPEED_TENSORS_PER_LAYER,
        overlap_param_gather=False, list_api_collectives=True,
        source="SC'21 Table 2 ZeRO-3 runs: DeepSpeed v0.3-0.5 gathers each parameter tensor on its own, "
               "blocking, at submodule granularity, with torch.distributed.all_gather over a list of the "
               "group's partitions (deepspeed/runtime/zero/partition_parameters.py _allgather_param)"),
    Framework.TORCHTITAN: FrameworkPreset(
        attention="flash2", fused_kernels=True, tp_comm_overlap=False, fused_cross_entropy=False,
        sharding=Sharding.ZERO3, reshard_with_pp=False,
        source="torchtitan: FSDP2 (fully_shard), SDPA's flash backend (FlashAttention-2), torch.compile of "
               "each block, torch.nn.functional.cross_entropy; async TP opt-in (experimental."
               "enable_async_tensor_parallel); reshard_after_forward_policy 'default' = not pp_enabled"),
    Framework.LLM_FOUNDRY: FrameworkPreset(
        attention="flash2", fused_kernels=False, tp_comm_overlap=False, fused_cross_entropy=True,
        sharding=Sharding.ZERO3,
        source="llm-foundry benchmarking README and yamls: Composer with PyTorch FSDP (FULL_SHARD), "
               "attn_impl flash (flash-attn 2), loss_fn fused_crossentropy, no torch.compile"),
    Framework.FLASH_ATTN: FrameworkPreset(
        attention="flash2", fused_kernels=True, tp_comm_overlap=False, fused_cross_entropy=True,
        sharding=Sharding.ZERO1,
        source="Dao-AILab/flash-attention training/ (GPT-2/GPT-3 configs): fused_mlp, fused_dropout_add_ln, "
               "flash-attn cross_entropy (in place); sharding: the Megatron-style default (ZeRO-1), as for "
               "published rows that do not state it"),
    Framework.HF_TRAINER: FrameworkPreset(
        attention="flash2", fused_kernels=False, tp_comm_overlap=False, fused_cross_entropy=False,
        sharding=Sharding.DDP,
        source="transformers Trainer defaults: DistributedDataParallel, attn_implementation sdpa (flash "
               "backend for bf16), eager PyTorch modules, torch cross-entropy, torch_compile False"),
}


def preset(name: str | Framework) -> FrameworkPreset:
    """The preset of a framework name; ValueError listing the choices for anything else."""
    from trainperf.vocab import choice

    return PRESETS[choice(Framework, str(name), "--framework")]
