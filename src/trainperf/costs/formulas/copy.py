"""Data movement: dtype casts, copies, concatenation, padding. Read once, write once."""

from __future__ import annotations

from trainperf.costs.formulas._util import nbytes
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory


def _copy(call: OpCall) -> OpCost:
    ins = call.tensors()
    base = call.op.split("::")[-1]
    if call.outputs:
        outs: list[TensorMeta] = list(call.outputs)
    elif base in ("copy_",) and ins:
        outs = [ins[0]]
        ins = ins[1:]
    elif base in ("cat", "stack", "_cat"):
        outs = [TensorMeta((sum(t.numel for t in ins),), ins[0].dtype)] if ins else []
    else:
        outs = ins[:1]
    return OpCost(category=OpCategory.COPY, flops=0.0, bytes_read=nbytes(ins), bytes_written=nbytes(outs))


register_cost(*(f"aten::{n}" for n in [
    "_to_copy", "copy_", "clone", "cat", "_cat", "stack", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "repeat", "expand_copy", "roll", "flip",
    "_reshape_copy", "alias_copy", "t_copy", "permute_copy", "transpose_copy", "slice_backward",
    "select_backward", "as_strided_scatter", "slice_scatter", "select_scatter", "diagonal_backward", "diagonal_copy",
    "unfold_backward", "_pad_packed_sequence", "pixel_shuffle", "pixel_unshuffle", "im2col", "col2im",
    "upsample_nearest2d", "upsample_nearest2d_backward", "upsample_bilinear2d", "upsample_bilinear2d_backward",
    "upsample_linear1d", "upsample_linear1d_backward",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact2d_backward", "max_pool2d_with_indices",
    "max_pool2d_with_indices_backward", "avg_pool2d", "avg_pool2d_backward", "_adaptive_avg_pool2d",
    "_adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "_local_scalar_dense",
]))(_copy)
