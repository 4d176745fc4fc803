"""Shared pieces of zoo recipes: optimizers, synthetic batches, analytic FLOP conventions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def adamw(params: Iterable[torch.nn.Parameter], lr: float = 1e-4, weight_decay: float = 0.1) -> torch.optim.Optimizer:
    """AdamW with the fused implementation (torchtitan's default, `optimizer.implementation = "fused"`)."""
    import torch

    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def token_batch(batch: int, seq: int, vocab: int) -> dict[str, Any]:
    """Synthetic token ids for a causal/masked LM; labels equal inputs (the model shifts them)."""
    import torch

    ids = torch.randint(0, vocab, (batch, seq))
    return {"input_ids": ids, "labels": ids}


def hf_loss(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """Loss computed by a transformers/diffusers model from ``labels`` in the batch."""
    return model(**batch).loss  # type: ignore[no-any-return]


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def decoder_train_flops_per_token(
    n_params_matmul: float, n_layers: int, seq: int, n_heads: int, d_qk: int, d_v: int
) -> float:
    """Model FLOPs per token of a decoder, fwd+bwd: 6·N + 6·L·S·H·(d_qk + d_v).

    N counts the parameters used in matmuls per token (input embedding excluded, LM head included);
    attention is counted without halving for the causal mask, the convention of llm-foundry, Megatron
    and FlashAttention-2 (shared/data/published/README.md, docs/glossary.md).
    """
    return 6.0 * n_params_matmul + 6.0 * n_layers * seq * n_heads * (d_qk + d_v)
