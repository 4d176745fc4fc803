"""Fused state-space scans: Mamba-1's selective scan (capture/patches.py records it in place of transformers'
per-token loop) and Mamba-2's chunked SSD scan (model/production_ssm.py writes it in place of transformers'
torch fallback).

``trainperf::selective_scan(u, Δ, A, B, C, D, z, Δ_bias)`` with u, Δ, z of (batch, d, L), A of (d, N), B and C of
(batch, N, L): mamba_ssm's ``selective_scan_fn`` (Gu & Dao 2023, arXiv 2312.00752 sec. 3.3.2, "hardware-aware
algorithm"). FLOPs as mamba_ssm counts them (``selective_scan_flop_jit`` in
``mamba_ssm/ops/selective_scan_interface.py``): 9·B·L·D·N for the discretization, the state update and the
read-out, + B·D·L for the D skip and + B·D·L for the z gate. The kernel keeps the state in SRAM: it reads u, Δ,
z, B, C, A, D and the bias once and writes y once. The backward kernel recomputes the forward scan and runs the
reverse one (2x the forward FLOPs, the glossary's fwd:bwd = 1:2); it reads the forward inputs and dy and
writes a gradient for each input. One kernel each way.

``trainperf::ssd_chunk_scan(x, dt, A, B, C, chunk_size, D, z, dt_bias)``, the arguments of mamba_ssm's
``mamba_chunk_scan_combined`` (x of (b, L, H, P), dt of (b, L, H), A of (H,), B and C of (b, L, G, N)), and
``trainperf::ssd_chunk_scan_backward(dout, x, dt, A, B, C, out, chunk_size, D, z, dt_bias)``, those of its
``_mamba_chunk_scan_combined_bwd``: the state-space duality algorithm (Dao & Gu 2024, arXiv 2405.21060 sec. 6)
as the Triton kernels of ``mamba_ssm/ops/triton/ssd_combined.py`` run it, in chunks of Q (the model's
``chunk_size``; mamba_ssm's Mamba2 default is 256). FLOPs are the products those kernels execute (hardware
FLOPs: the backward's recomputation of CB and the chunk states is counted, as these rows are priced at a GEMM
rate with no fitted efficiency that would absorb it); model FLOPs stay the workload's closed form
(workloads/zoo/_mixers.py). Bytes: each input and output once, plus the fp32 intermediates the kernels pass
through HBM (chunk states, CB, the chunked cumsum of dt·A), each written once and read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainperf.costs.formulas._util import int_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Gemm, OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory


def _dims(call: OpCall, first: int) -> tuple[float, float]:
    u, a = tensor_arg(call, first), tensor_arg(call, first + 2)
    assert u is not None and a is not None
    b, d, length = u.shape
    n = a.shape[-1]
    return float(b * length * d * n), float(b * d * length)


@register_cost("trainperf::selective_scan")
def selective_scan(call: OpCall) -> OpCost:
    bldn, bdl = _dims(call, 0)
    out = call.outputs[0] if call.outputs else tensor_arg(call, 0)
    assert out is not None
    return OpCost(category=OpCategory.OTHER, flops=9.0 * bldn + 2.0 * bdl, bytes_read=nbytes(call.tensors()),
                  bytes_written=out.nbytes)


@register_cost("trainperf::selective_scan_backward")
def selective_scan_backward(call: OpCall) -> OpCost:
    bldn, bdl = _dims(call, 1)
    ins = call.tensors()
    return OpCost(category=OpCategory.OTHER, flops=2.0 * (9.0 * bldn + 2.0 * bdl), bytes_read=nbytes(ins),
                  bytes_written=nbytes(ins[1:]))


SSD_CHUNK = 256
"""mamba_ssm's default chunk size (``Mamba2(chunk_size=256)``), for a call that does not give one."""
_CUMSUM_FLOPS = 4.0
"""Per (token, head), ``_chunk_cumsum_fwd``: dt + dt_bias, softplus, the product with A and the running sum."""
FP32 = 4.0


@dataclass(frozen=True, slots=True)
class SSDShape:
    """One SSD call: batch, length, heads, head dim P, state N, groups G, chunk Q (<= L), chunks."""

    b: int
    seq: int
    h: int
    p: int
    n: int
    g: int
    q: int
    nc: int

    @property
    def tokens(self) -> int:
        return self.b * self.seq


def ssd_shape(call: OpCall, x_at: int, chunk_at: int) -> SSDShape:
    """The shape of a ``trainperf::ssd_chunk_scan[_backward]`` call: x at ``x_at``, B three after it."""
    x, bm = tensor_arg(call, x_at), tensor_arg(call, x_at + 3)
    assert x is not None and bm is not None
    b, seq, h, p = x.shape
    chunk = int_arg(call, chunk_at, SSD_CHUNK)
    return SSDShape(b=b, seq=seq, h=h, p=p, n=bm.shape[-1], g=bm.shape[-2], q=min(chunk, seq),
                    nc=math.ceil(seq / chunk))


def ssd_forward_flops(s: SSDShape) -> float:
    """The five forward kernels of ``_mamba_chunk_scan_combined_fwd``."""
    t = float(s.tokens)
    return (2.0 * t * s.g * s.q * s.n  # _bmm_chunk_fwd: CB = C·Bᵀ within each chunk, per group
            + 2.0 * t * s.h * s.q * s.p  # _chunk_scan_fwd: (CB ⊙ decay)·(dt·x), the intra-chunk quadratic part
            + 4.0 * t * s.h * s.p * s.n  # _chunk_state_fwd: Bᵀ·(dt·x) chunk states; _chunk_scan_fwd: C·state
            + 2.0 * s.b * s.nc * s.h * s.p * s.n  # _state_passing_fwd: h_c = exp(ΣdA)·h_(c-1) + s_c
            + 2.0 * t * s.h * s.p  # D skip
            + _CUMSUM_FLOPS * t * s.h)  # _chunk_cumsum_fwd


def ssd_backward_flops(s: SSDShape) -> float:
    """``_mamba_chunk_scan_combined_bwd``: it recomputes CB, the chunk states and their passing, then
    dstates (C·dout), their reverse passing, dx (CBᵀ·dout + B·dstates), dB (x·dstatesᵀ), dC (dout·statesᵀ),
    dCB (dout·xᵀ) and its two products back into dB and dC, ddA (dout·xᵀ ⊙ CB) and the cumsum backward."""
    t = float(s.tokens)
    passing = 2.0 * s.b * s.nc * s.h * s.p * s.n
    return (6.0 * t * s.g * s.q * s.n  # CB recomputed; _bmm_chunk_bwd twice
            + 6.0 * t * s.h * s.q * s.p  # dx intra-chunk, dCB, ddA_cumsum
            + 10.0 * t * s.h * s.p * s.n  # states recomputed, dstates, dx from dstates, dB, dC
            + 3.0 * passing  # state passing recomputed; its backward (dstates and ddA of each chunk)
            + 4.0 * t * s.h * s.p  # ddt and dD
            + 4.0 * t * s.h * s.n  # ddA of the dB and dC kernels
            + 2.0 * _CUMSUM_FLOPS * t * s.h)  # _chunk_cumsum_fwd again and _chunk_cumsum_bwd


def _ssd_intermediates(s: SSDShape) -> tuple[float, float, float]:
    """fp32 bytes of (chunk states, CB, one chunked (b, H, nc, Q) cumsum tensor) (``states_in_fp32=True``,
    ``_bmm_chunk_fwd(output_dtype=torch.float32)``)."""
    return (FP32 * s.b * s.nc * s.h * s.p * s.n, FP32 * s.b * s.nc * s.g * s.q * s.q,
            FP32 * s.b * s.h * s.nc * s.q)


def _ssd_gemm(s: SSDShape) -> Gemm:
    """The dominant product, (CB ⊙ decay)·x: (Q x Q)·(Q x P) per chunk and head; its shape sets the rate."""
    return Gemm(m=s.q, n=s.p, k=s.q, batch=s.b * s.nc * s.h)


SSD_FORWARD_KERNELS = 5
"""_chunk_cumsum_fwd, _chunk_state_fwd, _state_passing_fwd, _bmm_chunk_fwd, _chunk_scan_fwd."""
SSD_BACKWARD_KERNELS = 22
"""14 Triton kernels (4 recomputing the forward; dstates, state passing bwd, dx, dB, dC, dCB, two bmm_chunk_bwd,
ddA_cumsum, cumsum bwd) and 8 torch ops around them (dt clone, dCB cast, the ddA flip/cumsum/flip and sums)."""


@register_cost("trainperf::ssd_chunk_scan")
def ssd_chunk_scan(call: OpCall) -> OpCost:
    x = tensor_arg(call, 0)
    assert x is not None
    s = ssd_shape(call, 0, 5)
    out = call.outputs[0] if call.outputs else x
    states, cb, cums = _ssd_intermediates(s)
    mid = states + cb + 2.0 * cums  # chunk states, CB, dA_cumsum and the processed dt
    return OpCost(category=OpCategory.MATMUL, flops=ssd_forward_flops(s), bytes_read=nbytes(call.tensors()) + mid,
                  bytes_written=out.nbytes + mid, kernels=SSD_FORWARD_KERNELS, gemm=_ssd_gemm(s), math_dtype=x.dtype)


@register_cost("trainperf::ssd_chunk_scan_backward")
def ssd_chunk_scan_backward(call: OpCall) -> OpCost:
    x = tensor_arg(call, 1)
    assert x is not None
    s = ssd_shape(call, 1, 7)
    states, cb, cums = _ssd_intermediates(s)
    mid = 2.0 * states + 2.0 * cb + 3.0 * cums  # states and dstates, CB and dCB, dA_cumsum, dt and ddA
    # a gradient for x, dt, A, B, C and the optional D, z, dt_bias (not for dout and out)
    grads: list[TensorMeta | None] = [tensor_arg(call, i) for i in (1, 2, 3, 4, 5, 8, 9, 10)]
    kernels = SSD_BACKWARD_KERNELS + (1 if tensor_arg(call, 9) is not None else 0)  # _chunk_scan_bwd_dz
    return OpCost(category=OpCategory.MATMUL, flops=ssd_backward_flops(s), bytes_read=nbytes(call.tensors()) + mid,
                  bytes_written=nbytes(grads) + mid, kernels=kernels, gemm=_ssd_gemm(s), math_dtype=x.dtype)
