"""Closed-form FLOPs of the 2025-26 sequence mixers, per token, forward + backward (3 x forward, the convention
of docs/glossary.md), beyond their input/output projections (which ``_hf`` counts as 6·N). docs/zoo.md,
"2025-26 networks", derives each and compares it with what the capture counts on the torch fallbacks.

No causal halving anywhere (the attention convention of docs/glossary.md): a chunk's intra-chunk products are
counted over the full chunk x chunk square, as both the reference kernels and the torch fallbacks compute them.
"""

from __future__ import annotations

from trainperf.workloads.zoo._common import attention_train_flops_per_token


def softmax_attention(layers: int, seq: int, heads: int, d_qk: int, d_v: int, window: int | None = None) -> float:
    """6·L·S_kv·H·(d_qk + d_v) (docs/glossary.md); a sliding/chunked layer attends to min(S, window) keys."""
    kv = seq if window is None else min(seq, window)
    return attention_train_flops_per_token(layers, kv, heads, d_qk, d_v)


def mamba2_ssd(layers: int, seq: int, *, heads: int, head_dim: int, state: int, groups: int, chunk: int) -> float:
    """Mamba-2 SSD chunked scan (Dao & Gu 2024, arXiv 2405.21060 sec. 6; mamba_ssm ``ssd_combined.py``), per
    token and layer, in multiply-adds: C·Bᵀ within the chunk (groups·Q·N: B and C are shared per group),
    the masked product with X (H·Q·P), the chunk state Bᵀ·X (H·N·P) and the output read C·h (H·N·P); state
    passing between chunks is O(H·N·P / Q) and omitted; Q = min(chunk, S). FLOPs = 2 x multiply-adds, x3 for fwd+bwd."""
    q = min(chunk, seq)  # a sequence shorter than the chunk is one chunk of S
    macs = groups * q * state + heads * q * head_dim + 2 * heads * state * head_dim
    return 6.0 * layers * macs


def mamba2_ssd_torch_reference(layers: int, seq: int, *, heads: int, head_dim: int, state: int, groups: int,
                               chunk: int) -> float:
    """What transformers' torch SSD fallback (``torch_chunk_scan_combined``) executes: the kernel's count plus
    C·Bᵀ per head instead of per group (it repeats B and C to every head first): 6·L·(H - G)·Q·N more."""
    q = min(chunk, seq)
    return (mamba2_ssd(layers, seq, heads=heads, head_dim=head_dim, state=state, groups=groups, chunk=chunk)
            + 6.0 * layers * (heads - groups) * q * state)


def mamba1_selective_scan(layers: int, *, d_inner: int, state: int) -> float:
    """Mamba (Gu & Dao 2023, arXiv 2312.00752 sec. 3.3, Algorithm 2) selective scan, per token and layer, as the
    fused kernel counts it (mamba_ssm ``selective_scan_flop_jit``): 9·d_inner·N forward (discretization,
    h = exp(Δ·A)·h + Δ·B·x, y = C·h) plus 2·d_inner for the D skip and the z gate; x3 for fwd+bwd."""
    return 3.0 * layers * (9 * d_inner * state + 2 * d_inner)


def gated_delta_rule(layers: int, *, heads: int, d_k: int, d_v: int, chunk: int = 64) -> float:
    """Chunked (gated) delta rule, Gated DeltaNet (Yang et al. 2024, arXiv 2412.06464 sec. 3; fla
    ``chunk_gated_delta_rule``, chunk 64) and Kimi Delta Attention (arXiv 2510.26692, same chunked form), per
    token and head, in multiply-adds: K·Kᵀ and Q·Kᵀ within the chunk (2·C·d_k), the UT transform applied to
    K and V (C·(d_k + d_v)), the intra-chunk attention times the corrected values (C·d_v), and three
    state products (reading with Q and with the decayed K, writing Kᵀ·V: 3·d_k·d_v)."""
    macs = 2 * chunk * d_k + chunk * (d_k + d_v) + chunk * d_v + 3 * d_k * d_v
    return 6.0 * layers * heads * macs


def lightning_attention(layers: int, *, heads: int, d_k: int, d_v: int, block: int) -> float:
    """Lightning attention (MiniMax-01, arXiv 2501.08313 sec. 2.2.1; Qin et al. 2024, arXiv 2401.04658), per
    token and head in multiply-adds: intra-block Q·Kᵀ and its product with V (B·(d_k + d_v)), inter-block
    read Q·KV and the KV update Kᵀ·V (2·d_k·d_v)."""
    return 6.0 * layers * heads * (block * (d_k + d_v) + 2 * d_k * d_v)


def dsa(layers: int, seq: int, *, heads: int, d_qk: int, d_v: int, top_k: int, index_heads: int,
        index_dim: int) -> float:
    """DeepSeek Sparse Attention (DeepSeek-V3.2-Exp report, 2025, sec. 2.1): the lightning indexer scores every
    key with H_I heads of d_I (2·S·H_I·d_I per query, like QKᵀ), and MLA then attends to the top-k keys
    (6·min(S, k)·H·(d_qk + d_v), the attention convention). Both x3 for fwd+bwd."""
    index = 6.0 * layers * seq * index_heads * index_dim
    return index + softmax_attention(layers, seq, heads, d_qk, d_v, window=top_k)
