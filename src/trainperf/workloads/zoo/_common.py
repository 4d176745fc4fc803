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


def attention_train_flops_per_token(n_layers: int, seq_kv: int, n_heads: int, d_qk: int, d_v: int) -> float:
    """Attention score and value products, fwd+bwd, per query token: 6·L·S_kv·H·(d_qk + d_v).

    Forward is 2·S_kv·H·(d_qk + d_v) per query token per layer (QKᵀ and PV); backward twice that. No causal
    halving (docs/glossary.md); a sliding-window layer attends to ``min(S, window)`` keys."""
    return 6.0 * n_layers * seq_kv * n_heads * (d_qk + d_v)


def conv1d_train_flops(c_in: int, c_out: int, kernel: int, l_out: int, groups: int = 1) -> float:
    """A 1-d convolution's fwd+bwd FLOPs per sample, counted like a matmul: 3 · 2·K·(C_in/groups)·C_out·L_out."""
    return 6.0 * kernel * (c_in // groups) * c_out * l_out


def conv1d_out_len(length: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output length of a 1-d convolution (torch.nn.Conv1d, dilation 1)."""
    return (length + 2 * padding - kernel) // stride + 1


def set_attention(cfg: Any, impl: str = "sdpa") -> Any:
    """Pin a transformers config's attention implementation (SDPA unless the model lacks it), so captures
    do not depend on which kernels happen to be installed."""
    cfg._attn_implementation = impl
    return cfg


def experts_implementation() -> str:
    """The transformers (5.x) MoE experts path that both runs for real and traces on fake tensors.

    Measured with transformers 5.23 / torch 2.13 (tests/unit/workloads/test_zoo_text.py):
    ``grouped_mm`` (one grouped GEMM per projection, what GPU training uses) runs real on CPU in any float
    dtype and traces under FakeTensorMode only in bf16 (its meta kernel requires BF16 inputs); ``eager``
    loops over experts hit by ``nonzero`` and cannot trace (DynamicOutputShapeException); ``batched_mm``
    gathers one weight matrix per (token, expert) pair and traces in any dtype, with the same FLOPs as
    grouped_mm but weight-gather bytes no real kernel moves. So: grouped_mm, except on meta in a dtype
    other than bf16, where batched_mm is the only path that traces. Call inside the build's device/dtype
    context (as ``make_model`` is)."""
    import torch

    probe = torch.empty(0)
    if probe.dtype == torch.bfloat16 or probe.device.type != "meta":
        return "grouped_mm"
    return "batched_mm"


def check_heads(name: str, hidden: int, heads: int, kv_heads: int | None = None, head_dim: int | None = None) -> None:
    """Raise ValueError unless the head counts split the hidden size (or an explicit head_dim is given)."""
    if heads < 1:
        raise ValueError(f"{name}: heads={heads} must be >= 1")
    if head_dim is None and hidden % heads:
        raise ValueError(f"{name}: heads={heads} does not divide hidden={hidden}; pick heads dividing {hidden}")
    if kv_heads is not None and (kv_heads < 1 or heads % kv_heads):
        raise ValueError(f"{name}: kv_heads={kv_heads} does not divide heads={heads}")


def check_seq(name: str, seq: int, max_positions: int, what: str = "seq") -> None:
    """Raise ValueError when a sequence is longer than the model's learned position table."""
    if seq > max_positions:
        raise ValueError(
            f"{name}: {what}={seq} exceeds the model's {max_positions} positions; use {what} <= {max_positions}"
        )


def shortened(layer_types: list[str]) -> tuple[list[str], tuple[int, ...]]:
    """Distinct layer types in first-seen order, and each full layer's index among them (a Repeat map)."""
    distinct: list[str] = []
    for t in layer_types:
        if t not in distinct:
            distinct.append(t)
    return distinct, tuple(distinct.index(t) for t in layer_types)


def encoder_layer_matmul_params(d: int, inner: int, ffn: int, gated: bool = False) -> int:
    """Matmul parameters of one transformer encoder layer: Q, K, V, O (d·inner each) and the MLP
    (2·d·ffn, or 3·d·ffn when gated)."""
    return 4 * d * inner + (3 if gated else 2) * d * ffn


def encdec_train_flops_per_sample(
    *, d: int, inner: int, ffn: int, enc_layers: int, dec_layers: int, heads: int, d_head: int,
    enc_len: int, dec_len: int, vocab: int,
) -> float:
    """Model FLOPs (fwd+bwd) of one sample through a transformer encoder-decoder (T5, BART, Whisper).

    Every matmul costs 6·params per token it is applied to: encoder layers on ``enc_len`` tokens; decoder
    self-attention, cross-attention Q/O, MLP and the LM head on ``dec_len`` tokens; cross-attention K/V
    (2·d·inner per layer) on the encoder tokens. Attention products: encoder self (S_kv = enc_len), decoder
    self (dec_len, no causal halving) and cross (enc_len), each 6·S_kv·H·2·d_head per query token per layer.
    Embedding and position tables excluded (docs/glossary.md)."""
    enc_mm = enc_layers * encoder_layer_matmul_params(d, inner, ffn)
    dec_mm = dec_layers * (encoder_layer_matmul_params(d, inner, ffn) + 2 * d * inner) + vocab * d
    cross_kv = dec_layers * 2 * d * inner
    matmul = 6.0 * (enc_len * (enc_mm + cross_kv) + dec_len * dec_mm)
    attn = (enc_len * attention_train_flops_per_token(enc_layers, enc_len, heads, d_head, d_head)
            + dec_len * attention_train_flops_per_token(dec_layers, dec_len + enc_len, heads, d_head, d_head))
    return matmul + attn


def mlm_batch(batch: int, seq: int, vocab: int, every: int = 7) -> dict[str, Any]:
    """Synthetic masked-LM batch: every ``every``-th position is a prediction target (1/7 ≈ the 15% of
    BERT, arXiv 1810.04805 3.1), the rest are ignored (-100). A fixed pattern keeps shapes and the number of
    targets static under fake tensors, and never leaves a real step without targets."""
    import torch

    ids = torch.randint(0, vocab, (batch, seq))
    target = (torch.arange(seq) % every == 0).expand(batch, seq)
    return {"input_ids": ids, "labels": torch.where(target, ids, torch.full_like(ids, -100))}
