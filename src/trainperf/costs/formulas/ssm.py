"""The fused Mamba-1 selective scan that capture/patches.py records in place of transformers' per-token loop.

``trainperf::selective_scan(u, Δ, A, B, C, D, z, Δ_bias)`` with u, Δ, z of (batch, d, L), A of (d, N), B and C of
(batch, N, L): mamba_ssm's ``selective_scan_fn`` (Gu & Dao 2023, arXiv 2312.00752 sec. 3.3.2, "hardware-aware
algorithm"). FLOPs as mamba_ssm counts them (``selective_scan_flop_jit`` in
``mamba_ssm/ops/selective_scan_interface.py``): 9·B·L·D·N for the discretization, the state update and the
read-out, + B·D·L for the D skip and + B·D·L for the z gate. The kernel keeps the state in SRAM: it reads u, Δ,
z, B, C, A, D and the bias once and writes y once. The backward kernel recomputes the forward scan and runs the
reverse one (2x the forward FLOPs, the glossary's fwd:bwd = 1:2); it reads the forward inputs and dy and
writes a gradient for each input. One kernel each way.
"""

from __future__ import annotations

from trainperf.costs.formulas._util import nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost
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
