"""Fused scaled-dot-product attention (flash / memory-efficient / cuDNN / CPU flash) forward and backward.

FLOPs, forward: 2·B·H·Lq·Lkv·(D + Dv) (QKᵀ and PV). Backward: twice the forward (dV, dP, dQ, dK),
model FLOPs without the recomputation of QKᵀ that flash backward does. The causal mask is NOT applied to
FLOPs (convention of llm-foundry, Megatron and FlashAttention-2: docs/glossary.md); the ``causal`` flag
is kept so the time model can skip the masked half. Same accounting as torch/utils/flop_counter.py
``sdpa_flop_count`` / ``sdpa_backward_flop_count``.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainperf.costs.formulas._util import bool_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Attention, OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory


def _bhld(t: TensorMeta, seq_first: bool) -> tuple[int, int, int, int]:
    """(batch, heads, length, dim) of q/k/v. SDPA ops use (B, H, L, D); _flash_attention_* use (B, L, H, D)."""
    if t.ndim == 3:  # varlen flash: (total_tokens, H, D)
        return 1, t.shape[1], t.shape[0], t.shape[2]
    if seq_first:
        return t.shape[0], t.shape[2], t.shape[1], t.shape[3]
    return t.shape[0], t.shape[1], t.shape[2], t.shape[3]


def _attn(call: OpCall, q: TensorMeta, k: TensorMeta, v: TensorMeta, causal: bool, backward: bool,
          reads: Sequence[TensorMeta | None], writes: Sequence[TensorMeta | None], seq_first: bool = False) -> OpCost:
    b, h, lq, d = _bhld(q, seq_first)
    _, _, lk, _ = _bhld(k, seq_first)
    dv = _bhld(v, seq_first)[3]
    fwd = 2.0 * b * h * lq * lk * (d + dv)
    return OpCost(
        category=OpCategory.ATTENTION, flops=2.0 * fwd if backward else fwd,
        bytes_read=nbytes(reads), bytes_written=nbytes(writes),
        attention=Attention(batch=b, heads=h, q_len=lq, kv_len=lk, head_dim=d, head_dim_v=dv,
                            causal=causal, backward=backward),
        math_dtype=q.dtype,
    )


def _fwd_writes(call: OpCall, q: TensorMeta, v: TensorMeta) -> list[TensorMeta | None]:
    if call.outputs:
        return list(call.outputs[:2])
    b, h, lq, _ = _bhld(q, False)
    return [TensorMeta((*q.shape[:-1], v.shape[-1]), q.dtype), TensorMeta((b, h, lq), "float32")]


def _qkv(call: OpCall, start: int) -> tuple[TensorMeta, TensorMeta, TensorMeta]:
    q, k, v = (tensor_arg(call, start + i) for i in range(3))
    assert q is not None and k is not None and v is not None
    return q, k, v


@register_cost("aten::_scaled_dot_product_flash_attention_for_cpu")
def sdpa_flash_cpu(call: OpCall) -> OpCost:
    # (query, key, value, dropout_p, is_causal, attn_mask, scale)
    q, k, v = _qkv(call, 0)
    mask = tensor_arg(call, 5)
    return _attn(call, q, k, v, bool_arg(call, 4, False), False, [q, k, v, mask], _fwd_writes(call, q, v))


@register_cost("aten::_scaled_dot_product_flash_attention")
def sdpa_flash(call: OpCall) -> OpCost:
    # (query, key, value, dropout_p, is_causal, return_debug_mask, scale)
    q, k, v = _qkv(call, 0)
    return _attn(call, q, k, v, bool_arg(call, 4, False), False, [q, k, v], _fwd_writes(call, q, v))


@register_cost("aten::_scaled_dot_product_efficient_attention")
def sdpa_efficient(call: OpCall) -> OpCost:
    # (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, scale)
    q, k, v = _qkv(call, 0)
    return _attn(call, q, k, v, bool_arg(call, 6, False), False, [q, k, v, tensor_arg(call, 3)],
                 _fwd_writes(call, q, v))


@register_cost("aten::_scaled_dot_product_cudnn_attention")
def sdpa_cudnn(call: OpCall) -> OpCost:
    # (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, return_debug_mask, scale)
    q, k, v = _qkv(call, 0)
    return _attn(call, q, k, v, bool_arg(call, 6, False), False, [q, k, v, tensor_arg(call, 3)],
                 _fwd_writes(call, q, v))


@register_cost("aten::_flash_attention_forward")
def flash_fwd(call: OpCall) -> OpCost:
    # (query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, ...), (B, L, H, D)
    q, k, v = _qkv(call, 0)
    writes = list(call.outputs[:2]) if call.outputs else [q]
    return _attn(call, q, k, v, bool_arg(call, 8, False), False, [q, k, v], writes, seq_first=True)


def _bwd(call: OpCall, qkv_start: int, causal_idx: int, seq_first: bool = False) -> OpCost:
    q, k, v = _qkv(call, qkv_start)
    reads = [t for t in call.tensors()]  # grad_out, q, k, v, out, logsumexp (+ bias)
    writes = list(call.outputs[:3]) if call.outputs else [q, k, v]
    return _attn(call, q, k, v, bool_arg(call, causal_idx, False), True, list(reads), writes, seq_first)


@register_cost("aten::_scaled_dot_product_flash_attention_for_cpu_backward")
def sdpa_flash_cpu_bwd(call: OpCall) -> OpCost:
    # (grad_out, query, key, value, out, logsumexp, dropout_p, is_causal, attn_mask, scale)
    return _bwd(call, 1, 7)


@register_cost("aten::_scaled_dot_product_flash_attention_backward")
def sdpa_flash_bwd(call: OpCall) -> OpCost:
    # (grad_out, query, key, value, out, logsumexp, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, ...)
    return _bwd(call, 1, 11)


@register_cost("aten::_scaled_dot_product_efficient_attention_backward")
def sdpa_efficient_bwd(call: OpCall) -> OpCost:
    # (grad_out, query, key, value, attn_bias, out, logsumexp, philox_seed, philox_offset, dropout_p,
    #  grad_input_mask, is_causal, scale)
    return _bwd(call, 1, 11)


@register_cost("aten::_scaled_dot_product_cudnn_attention_backward")
def sdpa_cudnn_bwd(call: OpCall) -> OpCost:
    # (grad_out, query, key, value, out, logsumexp, philox_seed, philox_offset, attn_bias, cum_seq_q,
    #  cum_seq_k, max_q, max_k, dropout_p, is_causal, scale)
    return _bwd(call, 1, 14)


@register_cost("aten::_flash_attention_backward")
def flash_bwd(call: OpCall) -> OpCost:
    # (grad_out, query, key, value, out, logsumexp, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p,
    #  is_causal, ...), (B, L, H, D)
    return _bwd(call, 1, 11, seq_first=True)
