"""Convolutions as implicit GEMMs. FLOPs, forward: 2·N·C_out·prod(out spatial)·(C_in/groups)·prod(kernel).

Backward: the input gradient and the weight gradient each cost the forward's FLOPs (when requested by
``output_mask``). Grouped and depthwise convolutions are counted per group, which torch's own flop counter
gets wrong for the backward (it over-counts by ×groups: pytorch/pytorch PR #183405; notes P8).
"""

from __future__ import annotations

import math

from trainperf.costs.formulas._util import int_arg, ints_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Gemm, OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory


def _out_spatial(inp: TensorMeta, w: TensorMeta, stride: tuple[int, ...], pad: tuple[int, ...],
                 dil: tuple[int, ...], transposed: bool, out_pad: tuple[int, ...]) -> tuple[int, ...]:
    nsp = inp.ndim - 2
    ks = w.shape[2:]

    def pick(t: tuple[int, ...], i: int, d: int) -> int:
        return t[i] if i < len(t) else (t[0] if t else d)

    out = []
    for i in range(nsp):
        s, p, d = pick(stride, i, 1), pick(pad, i, 0), pick(dil, i, 1)
        x = inp.shape[2 + i]
        if transposed:
            out.append((x - 1) * s - 2 * p + d * (ks[i] - 1) + pick(out_pad, i, 0) + 1)
        else:
            out.append((x + 2 * p - d * (ks[i] - 1) - 1) // s + 1)
    return tuple(out)


def _conv_gemm(inp: TensorMeta, w: TensorMeta, out_sp: tuple[int, ...], groups: int, transposed: bool) -> Gemm:
    n = inp.shape[0]
    ks = math.prod(w.shape[2:])
    if transposed:  # weight (C_in, C_out/groups, k...): the GEMM runs over input positions
        c_in, c_out_g = w.shape[0], w.shape[1]
        return Gemm(m=n * math.prod(inp.shape[2:]), n=c_out_g * ks, k=c_in // groups, batch=groups)
    c_out, c_in_g = w.shape[0], w.shape[1]
    return Gemm(m=n * math.prod(out_sp), n=c_out // groups, k=c_in_g * ks, batch=groups)


def _conv(call: OpCall, inp: TensorMeta, w: TensorMeta, bias: TensorMeta | None, stride: tuple[int, ...],
          pad: tuple[int, ...], dil: tuple[int, ...], transposed: bool, out_pad: tuple[int, ...], groups: int,
          backward_mask: tuple[bool, bool, bool] | None = None, grad_out: TensorMeta | None = None) -> OpCost:
    out_sp = grad_out.shape[2:] if grad_out is not None else _out_spatial(inp, w, stride, pad, dil, transposed, out_pad)
    g = _conv_gemm(inp, w, tuple(out_sp), groups, transposed)
    if backward_mask is None:
        c_out = w.shape[1] * groups if transposed else w.shape[0]
        out = call.outputs[0] if call.outputs else TensorMeta((inp.shape[0], c_out, *out_sp), inp.dtype)
        return OpCost(category=OpCategory.CONV, flops=g.flops, bytes_read=nbytes([inp, w, bias]),
                      bytes_written=out.nbytes, gemm=g, math_dtype=inp.dtype)
    n_grads = int(backward_mask[0]) + int(backward_mask[1])
    writes = [inp if backward_mask[0] else None, w if backward_mask[1] else None]
    return OpCost(category=OpCategory.CONV, flops=g.flops * n_grads,
                  bytes_read=nbytes([grad_out, inp, w]), bytes_written=nbytes(writes),
                  kernels=max(1, n_grads + int(backward_mask[2])), gemm=g, math_dtype=inp.dtype,
                  extra={"grad_input": float(backward_mask[0]), "grad_weight": float(backward_mask[1])})


@register_cost("aten::convolution", "aten::_convolution")
def convolution(call: OpCall) -> OpCost:
    # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, ...)
    inp, w = tensor_arg(call, 0), tensor_arg(call, 1)
    assert inp is not None and w is not None
    transposed = bool(call.arg(6)) if isinstance(call.arg(6), (bool, int)) else False
    return _conv(call, inp, w, tensor_arg(call, 2), ints_arg(call, 3, (1,)), ints_arg(call, 4, (0,)),
                 ints_arg(call, 5, (1,)), transposed, ints_arg(call, 7, (0,)), int_arg(call, 8, 1))


@register_cost("aten::cudnn_convolution", "aten::miopen_convolution")
def cudnn_convolution(call: OpCall) -> OpCost:
    # cudnn: (input, weight, padding, stride, dilation, groups, benchmark, deterministic, allow_tf32)
    # miopen: (input, weight, bias, padding, stride, dilation, groups, benchmark, deterministic)
    inp, w = tensor_arg(call, 0), tensor_arg(call, 1)
    assert inp is not None and w is not None
    off = 1 if call.op.endswith("miopen_convolution") else 0
    return _conv(call, inp, w, tensor_arg(call, 2) if off else None, ints_arg(call, 3 + off, (1,)),
                 ints_arg(call, 2 + off, (0,)), ints_arg(call, 4 + off, (1,)), False, (0,), int_arg(call, 5 + off, 1))


@register_cost("aten::convolution_backward")
def convolution_backward(call: OpCall) -> OpCost:
    # (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding,
    #  groups, output_mask)
    go, inp, w = tensor_arg(call, 0), tensor_arg(call, 1), tensor_arg(call, 2)
    assert go is not None and inp is not None and w is not None
    mask_arg = call.arg(10)
    mask = tuple(bool(x) for x in mask_arg) if isinstance(mask_arg, tuple) and len(mask_arg) == 3 else (True, True, True)
    transposed = bool(call.arg(7)) if isinstance(call.arg(7), (bool, int)) else False
    return _conv(call, inp, w, None, ints_arg(call, 4, (1,)), ints_arg(call, 5, (0,)), ints_arg(call, 6, (1,)),
                 transposed, ints_arg(call, 8, (0,)), int_arg(call, 9, 1),
                 backward_mask=(mask[0], mask[1], mask[2]), grad_out=go)
