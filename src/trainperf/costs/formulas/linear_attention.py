"""Chunked linear-attention scans: the torch fallback's triangular solve, and the fused (gated) delta rule.

``aten::linalg_solve_triangular(A, B, upper, left, unitriangular)`` is the UT transform of the chunked (gated)
delta rule: transformers' ``torch_chunk_gated_delta_rule`` (Qwen3-Next; fla's ``chunk_gated_delta_rule``
reference) solves ``(I + tril(β K Kᵀ ⊙ decay)) X = β V`` per chunk, with A of (…, C, C) and B of (…, C, d).
Forward substitution with an n x n triangular matrix and k right-hand sides costs n²·k FLOPs (n(n-1)/2·k
multiply-adds plus the divisions; LAPACK Working Note 41, xTRSM: m²·n), which equals a GEMM of
(n x n/2) @ (n/2 x k): it is priced as that GEMM, the shape cuBLAS' batched trsm reaches.

``trainperf::chunk_gated_delta_rule(q, k, v, g, beta, scale, initial_state, output_final_state,
use_qk_l2norm_in_kernel)``, the arguments of flash-linear-attention's ``chunk_gated_delta_rule`` (q, k of
(b, T, H, K), v of (b, T, H, V), g and beta of (b, T, H)), and ``trainperf::chunk_gated_delta_rule_backward(do,
q, k, v, g, beta, A, scale, initial_state, use_qk_l2norm_in_kernel)``, its ``chunk_gated_delta_rule_bwd``:
Gated DeltaNet's chunkwise algorithm (Yang et al. 2024, arXiv 2412.06464 sec. 3.3, the WY/UT form) as the
Triton kernels of ``fla/ops/gated_delta_rule/chunk.py`` run it, in chunks of C = 64. ``trainperf::chunk_kda``
and ``_backward`` are Kimi Delta Attention (arXiv 2510.26692 sec. 3; fla ``fla/ops/kda/chunk_fwd.py``): the same
stages with a per-channel gate, g of (b, T, H, K), whose decays are applied inside the same products; one
formula prices both. FLOPs are the products the kernels execute, the backward's recomputation of w, u and the
chunk states included (hardware FLOPs, as for ssm.py's SSD scan); model FLOPs stay the closed form of
workloads/zoo/_mixers.py. Bytes: inputs and outputs once, plus the intermediates the kernels pass through
HBM (A before and after solve_tril, w, u, v_new, the per-chunk states h), each written once and read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainperf.costs.formulas._util import bool_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Gemm, OpCall, OpCost, TensorMeta, dtype_bytes
from trainperf.vocab import OpCategory


@register_cost("aten::linalg_solve_triangular")
def solve_triangular(call: OpCall) -> OpCost:
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    assert a is not None and b is not None
    left = bool_arg(call, 3, True)
    n = a.shape[-1]
    rows, rhs = (b.shape[-2], b.shape[-1]) if left else (b.shape[-1], b.shape[-2])
    batch = 1
    for d in b.shape[:-2]:
        batch *= d
    g = Gemm(m=rows, n=rhs, k=max(1, (n + 1) // 2), batch=batch)
    out = call.outputs[0] if call.outputs else b
    return OpCost(category=OpCategory.MATMUL, flops=float(batch) * n * n * rhs, bytes_read=nbytes([a, b]),
                  bytes_written=out.nbytes, gemm=g, math_dtype=a.dtype)


FLA_CHUNK = 64
"""fla's chunk: ``chunk_gated_delta_rule_fwd`` calls ``chunk_local_cumsum(g, chunk_size=64)`` and every stage
tiles BT = 64 (``chunk_kda_fwd(chunk_size=64)`` likewise)."""
_L2NORM_FWD, _L2NORM_BWD = 3.0, 5.0
"""FLOPs per element of q and k in ``fla.modules.l2norm``: forward square-and-sum and the scale; backward the
dot of dy with y, the scale and the subtraction."""
FP32 = 4.0


@dataclass(frozen=True, slots=True)
class DeltaShape:
    """One chunked delta-rule call: batch, length, heads, key dim K, value dim V, gate width (1, or K for
    KDA), chunk C (<= T), chunks, and whether q and k are L2-normalized in the kernel."""

    b: int
    seq: int
    h: int
    dk: int
    dv: int
    gate: int
    c: int
    nc: int
    l2norm: bool

    @property
    def tokens(self) -> int:
        return self.b * self.seq


def delta_shape(call: OpCall, q_at: int, l2norm_at: int) -> DeltaShape:
    """The shape of a fused delta-rule call: q, k, v, g, beta from ``q_at`` on."""
    q, v, g = tensor_arg(call, q_at), tensor_arg(call, q_at + 2), tensor_arg(call, q_at + 3)
    assert q is not None and v is not None and g is not None
    b, seq, h, dk = q.shape
    return DeltaShape(b=b, seq=seq, h=h, dk=dk, dv=v.shape[-1], gate=g.shape[3] if g.ndim == 4 else 1,
                      c=min(FLA_CHUNK, seq), nc=math.ceil(seq / FLA_CHUNK), l2norm=bool_arg(call, l2norm_at, False))


def delta_forward_flops(s: DeltaShape) -> float:
    """``chunk_gated_delta_rule_fwd`` per token and head: chunk_scaled_dot_kkt (β·K·Kᵀ ⊙ decay, C·K), solve_tril
    (the 64 x 64 inverse of I + A, n³/3 FLOPs per chunk: LAPACK Working Note 41, xTRTRI), recompute_w_u (w =
    A·(β·K·decay), u = A·(β·V): C·(K + V)), chunk_gated_delta_rule_fwd_h (v_new = u - w·h and h += Kᵀ·v_new per
    chunk, the inter-chunk state passing: 2·K·V) and chunk_fwd_o (Q·h and the intra-chunk (Q·Kᵀ ⊙ decay)·v_new:
    K·V + C·K + C·V); multiply-adds x 2."""
    per = (6.0 * s.dk * s.dv + 6.0 * s.c * s.dk + 4.0 * s.c * s.dv + s.c * s.c / 3.0
           + 2.0 * s.gate + (2.0 * _L2NORM_FWD * s.dk if s.l2norm else 0.0))  # gate: chunk cumsum and decays
    return float(s.tokens * s.h) * per


def delta_backward_flops(s: DeltaShape) -> float:
    """``chunk_gated_delta_rule_bwd`` per token and head: recompute_w_u and fwd_h again (2·C·(K + V) + 4·K·V),
    chunk_bwd_dv_local ((K·Qᵀ ⊙ decay)·dO: 2·C·(K + V)), chunk_gated_delta_rule_bwd_dhu (dv += K·dh, dh += Qᵀ·dO
    - wᵀ·dv: 6·K·V), chunk_bwd_dqkwg (dq, dk, dw against h and dh, dS = dO·v_newᵀ and its products with K and Q:
    6·K·V + 4·C·K + 2·C·V) and prepare_wy_repr_bwd (dA from dw and du, dK·β and dV·β through Aᵀ, dA through the
    inverse (2·C² multiply-adds), dk from dA, the K·Kᵀ recomputed: 10·C·K + 4·C·V + 4·C²)."""
    per = (16.0 * s.dk * s.dv + 18.0 * s.c * s.dk + 10.0 * s.c * s.dv + 4.0 * s.c * s.c
           + 2.0 * s.gate + (2.0 * _L2NORM_BWD * s.dk if s.l2norm else 0.0))
    return float(s.tokens * s.h) * per


def _delta_gemm(s: DeltaShape) -> Gemm:
    """The dominant products, against the state h: (C x K)·(K x V) per chunk and head; its shape sets the rate."""
    return Gemm(m=s.c, n=s.dv, k=s.dk, batch=s.b * s.nc * s.h)


def _tok(s: DeltaShape, width: float, elem: float) -> float:
    return float(s.tokens * s.h) * width * elem


DELTA_FORWARD_KERNELS = 6
"""chunk_local_cumsum, chunk_scaled_dot_kkt_fwd, solve_tril, recompute_w_u_fwd, chunk_gated_delta_rule_fwd_h,
chunk_fwd_o (KDA: cumsum, its intra-chunk kernels, fwd_h, chunk_gla_fwd_o_gk); + l2norm_fwd of q and k."""
DELTA_BACKWARD_KERNELS = 9
"""recompute_w_u_fwd, chunk_gated_delta_rule_fwd_h, chunk_bwd_dv_local, chunk_gated_delta_rule_bwd_dhu,
chunk_bwd_dqkwg, prepare_wy_repr_bwd, the two gradient adds, the reverse chunk_local_cumsum; + l2norm_bwd."""


def _forward(call: OpCall) -> OpCost:
    q = tensor_arg(call, 0)
    assert q is not None
    s = delta_shape(call, 0, 8)
    e = dtype_bytes(q.dtype)
    states = float(s.b * s.nc * s.h * s.dk * s.dv) * e
    # intermediates: A in fp32 before solve_tril, w, u, v_new, h; outputs: o, A (k's dtype, saved), g cumsum
    mid = _tok(s, s.c, FP32) + _tok(s, s.dk + 2.0 * s.dv, e) + states
    out = _tok(s, s.dv, e) + _tok(s, s.c, e) + _tok(s, s.gate, FP32)
    return OpCost(category=OpCategory.MATMUL, flops=delta_forward_flops(s), bytes_read=nbytes(call.tensors()) + mid,
                  bytes_written=out + mid, kernels=DELTA_FORWARD_KERNELS + (2 if s.l2norm else 0),
                  gemm=_delta_gemm(s), math_dtype=q.dtype)


def _backward(call: OpCall) -> OpCost:
    q = tensor_arg(call, 1)
    assert q is not None
    s = delta_shape(call, 1, 9)
    e = dtype_bytes(q.dtype)
    # intermediates: w, u, v_new, h recomputed; dv, dw, dk2, and the state gradients dh (fp32)
    mid = _tok(s, 3.0 * s.dk + 3.0 * s.dv, e) + float(s.b * s.nc * s.h * s.dk * s.dv) * (e + FP32)
    grads: list[TensorMeta | None] = [tensor_arg(call, i) for i in range(1, 6)]  # dq, dk, dv, dg, dbeta
    return OpCost(category=OpCategory.MATMUL, flops=delta_backward_flops(s),
                  bytes_read=nbytes(call.tensors()) + mid, bytes_written=nbytes(grads) + mid,
                  kernels=DELTA_BACKWARD_KERNELS + (2 if s.l2norm else 0), gemm=_delta_gemm(s), math_dtype=q.dtype)


register_cost("trainperf::chunk_gated_delta_rule", "trainperf::chunk_kda")(_forward)
register_cost("trainperf::chunk_gated_delta_rule_backward", "trainperf::chunk_kda_backward")(_backward)


# --- lightning attention (MiniMax-01) ---
LIGHTNING_FORWARD_KERNELS, LIGHTNING_BACKWARD_KERNELS = 1, 2
"""Lightning Attention-2's Triton kernels (Qin et al. 2024, arXiv 2401.04658; OpenNLPLab/lightning-attention
``lightning_attn2``): ``_fwd_kernel`` walks the blocks with the Kᵀ·V state on chip; the backward runs
``_bwd_intra_kernel`` and ``_bwd_inter_kernel``."""


def _lightning(call: OpCall, q_at: int) -> tuple[int, int, int, int, int, int]:
    """(b, H, seq, d_k, d_v, block) of a lightning-attention call: q, k, v of (b, H, seq, ·) from ``q_at``."""
    q, v = tensor_arg(call, q_at), tensor_arg(call, q_at + 2)
    assert q is not None and v is not None
    b, h, seq, dk = q.shape
    block = call.args[q_at + 4]
    assert isinstance(block, int) and block > 0
    return b, h, seq, dk, v.shape[-1], min(block, seq)


def _lightning_macs(b: int, h: int, seq: int, dk: int, dv: int, block: int) -> float:
    """Multiply-adds of one forward, per token and head: the intra-block Q·Kᵀ and its product with V
    (B·(d_k + d_v)), the inter-block Q·(Kᵀ·V) read and the state update Kᵀ·V (2·d_k·d_v) (MiniMax-01, arXiv
    2501.08313 sec. 2.2.1; the closed form of workloads/zoo/_mixers.lightning_attention)."""
    return float(b * h * seq) * (block * (dk + dv) + 2.0 * dk * dv)


@register_cost("trainperf::lightning_attn")
def lightning_forward(call: OpCall) -> OpCost:
    """``lightning_attn(q, k, v, slope, block)``: reads q, k, v once, writes o."""
    b, h, seq, dk, dv, block = _lightning(call, 0)
    q = tensor_arg(call, 0)
    assert q is not None
    out = call.outputs[0].nbytes if call.outputs else float(b * h * seq * dv) * dtype_bytes(q.dtype)
    return OpCost(category=OpCategory.MATMUL, flops=2.0 * _lightning_macs(b, h, seq, dk, dv, block),
                  bytes_read=nbytes(call.tensors()), bytes_written=out, kernels=LIGHTNING_FORWARD_KERNELS,
                  gemm=Gemm(m=block, n=dv, k=dk, batch=b * h * math.ceil(seq / block)), math_dtype=q.dtype)


@register_cost("trainperf::lightning_attn_backward")
def lightning_backward(call: OpCall) -> OpCost:
    """``lightning_attn_backward(do, q, k, v, slope, block)``: twice the forward's products (dQ, dK, dV against
    the intra-block scores and the running state, and the state gradient), reads do, q, k, v, writes dq, dk,
    dv."""
    b, h, seq, dk, dv, block = _lightning(call, 1)
    q = tensor_arg(call, 1)
    assert q is not None
    return OpCost(category=OpCategory.MATMUL, flops=4.0 * _lightning_macs(b, h, seq, dk, dv, block),
                  bytes_read=nbytes(call.tensors()), bytes_written=nbytes(list(call.outputs)),
                  kernels=LIGHTNING_BACKWARD_KERNELS,
                  gemm=Gemm(m=block, n=dv, k=dk, batch=b * h * math.ceil(seq / block)), math_dtype=q.dtype)
