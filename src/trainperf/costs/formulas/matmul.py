"""Matrix multiplications. FLOPs = 2·M·N·K per product (a multiply-add is 2 FLOPs).

Each GEMM also records its operands' alignment (Gemm.align): the leading dimension of a matrix (the
stride of its non-unit-stride axis, in bytes) must be a multiple of 16 for cuBLAS/CUTLASS to use their
128-bit vectorized kernels (cuBLAS documentation, "Tensor Core Usage": pointers and leading dimensions
aligned to 16 bytes; Hopper's TMA requires 16-byte global strides, CUDA Driver API cuTensorMapEncodeTiled).
A GPT-2 vocabulary of 50,257 or BERT's 30,522 makes the LM-head GEMMs align2: the BERT-small H100 trace
runs its 141x30522x512 head on `cutlass_80_tensorop_bf16_s16816gemm_..._align2` at 2.2x the aligned time.
"""

from __future__ import annotations

from trainperf.costs.formulas._util import nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Gemm, OpCall, OpCost, TensorMeta, dtype_bytes
from trainperf.vocab import OpCategory

FULL_ALIGN = 16
"""Bytes of the widest vector load a GEMM kernel issues (128 bits)."""


def leading_dim(t: TensorMeta) -> int | None:
    """Elements between consecutive rows (row-major) or columns (column-major) of the matrix in the last
    two axes; None for a vector-like matrix (an axis of 1), which no alignment constrains. Unknown strides
    read as contiguous. A matrix with no unit-stride axis is copied to a contiguous one before the GEMM
    (PyTorch's cuBLAS path), so its leading dimension is its last axis."""
    if t.ndim < 2 or 1 in t.shape[-2:]:
        return None
    if t.strides is None or len(t.strides) != t.ndim:
        return t.shape[-1]
    s_row, s_col = t.strides[-2:]
    if s_col == 1:
        return s_row
    if s_row == 1:
        return s_col
    return t.shape[-1]


def gemm_align(*mats: TensorMeta) -> int:
    """Widest vector access (bytes, at most 16) that every matrix's leading dimension allows."""
    best = FULL_ALIGN
    for t in mats:
        ld = leading_dim(t)
        if ld is not None and ld > 0:
            b = int(ld * dtype_bytes(t.dtype))
            best = min(best, b & -b if b > 0 else FULL_ALIGN)
    return best


def _gemm_cost(call: OpCall, a: TensorMeta, b: TensorMeta, g: Gemm, extra_in: list[TensorMeta | None],
               out_dtype: str | None = None) -> OpCost:
    out_shape = call.outputs[0].shape if call.outputs else None
    out_dt = call.outputs[0].dtype if call.outputs else (out_dtype or a.dtype)
    out = call.outputs[0] if call.outputs else TensorMeta(
        out_shape if out_shape is not None else (g.batch * g.m, g.n), out_dt)
    g = Gemm(m=g.m, n=g.n, k=g.k, batch=g.batch, align=gemm_align(a, b, out))
    return OpCost(
        category=OpCategory.MATMUL, flops=g.flops,
        bytes_read=nbytes([a, b, *extra_in]), bytes_written=out.nbytes,
        gemm=g, math_dtype=a.dtype,
    )


@register_cost("aten::mm")
def mm(call: OpCall) -> OpCost:
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    assert a is not None and b is not None
    return _gemm_cost(call, a, b, Gemm(m=a.shape[0], n=b.shape[1], k=a.shape[1]), [])


@register_cost("aten::addmm")
def addmm(call: OpCall) -> OpCost:
    # addmm(bias, a, b, beta, alpha): the bias add is fused in the GEMM epilogue.
    bias, a, b = tensor_arg(call, 0), tensor_arg(call, 1), tensor_arg(call, 2)
    assert a is not None and b is not None
    return _gemm_cost(call, a, b, Gemm(m=a.shape[0], n=b.shape[1], k=a.shape[1]), [bias])


@register_cost("aten::bmm")
def bmm(call: OpCall) -> OpCost:
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    assert a is not None and b is not None
    return _gemm_cost(call, a, b, Gemm(m=a.shape[1], n=b.shape[2], k=a.shape[2], batch=a.shape[0]), [])


@register_cost("aten::baddbmm")
def baddbmm(call: OpCall) -> OpCost:
    c, a, b = tensor_arg(call, 0), tensor_arg(call, 1), tensor_arg(call, 2)
    assert a is not None and b is not None
    return _gemm_cost(call, a, b, Gemm(m=a.shape[1], n=b.shape[2], k=a.shape[2], batch=a.shape[0]), [c])


@register_cost("aten::_grouped_mm")
def grouped_mm(call: OpCall) -> OpCost:
    """MoE grouped GEMM ``_grouped_mm(mat_a, mat_b, offs, bias, out_dtype)``.

    2d x 3d: tokens (M_total, K) split by ``offs`` across E experts' (K, N) weights -> 2·M_total·K·N.
    3d x 2d: the transposed case of the same, 2·E·M·K... computed from shapes the same way.
    2d x 2d: weight gradient, K split across groups: (M, K_total) x (K_total, N) -> E outputs (M, N),
    2·M·K_total·N. 3d x 3d: a plain batched GEMM. (torch/_meta_registrations.py, _grouped_mm shapes.)
    """
    a, b, offs = tensor_arg(call, 0), tensor_arg(call, 1), tensor_arg(call, 2)
    assert a is not None and b is not None
    groups = offs.shape[0] if offs is not None else 1
    if a.ndim == 2 and b.ndim == 3:
        g = Gemm(m=a.shape[0], n=b.shape[2], k=a.shape[1])
    elif a.ndim == 3 and b.ndim == 2:
        g = Gemm(m=a.shape[1], n=b.shape[1], k=a.shape[2], batch=a.shape[0])
    elif a.ndim == 2 and b.ndim == 2:
        g = Gemm(m=a.shape[0], n=b.shape[1], k=a.shape[1])
    else:
        g = Gemm(m=a.shape[1], n=b.shape[2], k=a.shape[2], batch=a.shape[0])
    c = _gemm_cost(call, a, b, g, [offs])
    return OpCost(category=c.category, flops=c.flops, bytes_read=c.bytes_read, bytes_written=c.bytes_written,
                  gemm=c.gemm, math_dtype=c.math_dtype, extra={"groups": float(groups)})


@register_cost("aten::_scaled_mm")
def scaled_mm(call: OpCall) -> OpCost:
    """FP8 GEMM ``_scaled_mm(a, b, scale_a, scale_b, bias, scale_result, out_dtype, use_fast_accum)``."""
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    assert a is not None and b is not None
    extra = [tensor_arg(call, i) for i in (2, 3, 4)]
    out_dt = call.arg(6)
    return _gemm_cost(call, a, b, Gemm(m=a.shape[0], n=b.shape[1], k=a.shape[1]), extra,
                      out_dtype=out_dt if isinstance(out_dt, str) else "bfloat16")
