"""Embedding lookups and index ops (gathers/scatters): memory-bound, bytes = rows actually touched."""

from __future__ import annotations

from trainperf.costs.formulas._util import int_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory


@register_cost("aten::embedding")
def embedding(call: OpCall) -> OpCost:
    # (weight, indices, padding_idx, scale_grad_by_freq, sparse): gathers one row per index
    w, idx = tensor_arg(call, 0), tensor_arg(call, 1)
    assert w is not None and idx is not None
    out = TensorMeta((*idx.shape, w.shape[-1]), w.dtype)
    return OpCost(category=OpCategory.EMBEDDING, flops=0.0, bytes_read=idx.nbytes + out.nbytes,
                  bytes_written=out.nbytes)


@register_cost("aten::embedding_dense_backward", "aten::embedding_backward")
def embedding_backward(call: OpCall) -> OpCost:
    # (grad_output, indices, num_weights, padding_idx, scale_grad_by_freq): zero the full table gradient,
    # then scatter-add one row per index (two kernels at least).
    go, idx = tensor_arg(call, 0), tensor_arg(call, 1)
    assert go is not None and idx is not None
    num_weights = int_arg(call, 2, 0)
    table = TensorMeta((num_weights, go.shape[-1]), go.dtype)
    out = call.outputs[0] if call.outputs else table
    return OpCost(category=OpCategory.EMBEDDING, flops=float(go.numel), bytes_read=go.nbytes + idx.nbytes,
                  bytes_written=out.nbytes + go.nbytes, kernels=2)


@register_cost("aten::_embedding_bag", "aten::_embedding_bag_forward_only", "aten::embedding_bag")
def embedding_bag(call: OpCall) -> OpCost:
    # (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, ...)
    w, idx, offs = tensor_arg(call, 0), tensor_arg(call, 1), tensor_arg(call, 2)
    assert w is not None and idx is not None
    rows_read = idx.numel * w.shape[-1] * (w.nbytes / max(w.numel, 1))
    bags = offs.shape[0] if offs is not None else 1
    out = call.outputs[0] if call.outputs else TensorMeta((bags, w.shape[-1]), w.dtype)
    return OpCost(category=OpCategory.EMBEDDING, flops=float(idx.numel * w.shape[-1]),
                  bytes_read=idx.nbytes + rows_read + nbytes([offs, tensor_arg(call, 6)]), bytes_written=out.nbytes)


@register_cost("aten::_embedding_bag_backward", "aten::_embedding_bag_dense_backward",
               "aten::_embedding_bag_sparse_backward", "aten::_embedding_bag_per_sample_weights_backward")
def embedding_bag_backward(call: OpCall) -> OpCost:
    ts = call.tensors()
    go = ts[0]
    idx = ts[1] if len(ts) > 1 else go
    dim = go.shape[-1]
    per = go.nbytes / max(go.numel, 1)
    touched = idx.numel * dim * per
    out_bytes = nbytes(list(call.outputs)) if call.outputs else touched
    return OpCost(category=OpCategory.EMBEDDING, flops=float(idx.numel * dim), bytes_read=go.nbytes + idx.nbytes,
                  bytes_written=out_bytes, kernels=2)


def _index(call: OpCall) -> OpCost:
    """Gather/scatter family: reads the index and the selected elements, writes the result."""
    ins = call.tensors()
    outs = list(call.outputs)
    if outs:
        moved = nbytes(outs)
    else:  # traces: assume the op moves as much as its second-largest tensor (the index-selected part)
        sizes = sorted((t.nbytes for t in ins), reverse=True)
        moved = sizes[1] if len(sizes) > 1 else (sizes[0] if sizes else 0.0)
    idx_bytes = sum(t.nbytes for t in ins if t.dtype in ("int64", "int32", "bool"))
    return OpCost(category=OpCategory.EMBEDDING, flops=0.0, bytes_read=moved + idx_bytes, bytes_written=moved)


@register_cost("aten::index_select", "aten::gather")
def gather(call: OpCall) -> OpCost:
    """index_select(self, dim, index) / gather(self, dim, index): the output has `index.numel` slices of
    `self` along `dim` (index_select) or `index.shape` elements (gather), so the bytes come from the index and
    the output, not from the (possibly huge) source: read the selected elements and the index, write the
    output (PyTorch index_select_out_cuda / gather_out_cuda, one element per output element)."""
    src, idx = tensor_arg(call, 0), tensor_arg(call, 2)
    if src is None or idx is None:
        return _index(call)
    if call.outputs:
        out = call.outputs[0]
    elif call.op.endswith("index_select"):
        d = int_arg(call, 1, 0) % max(src.ndim, 1)
        per = src.numel // max(src.shape[d], 1) if src.shape else 1
        out = TensorMeta((idx.numel * per,), src.dtype)
    else:
        out = TensorMeta(idx.shape, src.dtype)
    return OpCost(category=OpCategory.EMBEDDING, flops=0.0, bytes_read=out.nbytes + idx.nbytes, bytes_written=out.nbytes)


register_cost(*(f"aten::{n}" for n in [
    "index", "scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce",
    "scatter_reduce_", "index_add", "index_add_", "index_put", "index_put_", "_index_put_impl_", "index_copy",
    "index_copy_", "index_fill", "index_fill_", "masked_select", "take", "put_", "_unsafe_index",
    "_unsafe_index_put", "index_select_backward", "gather_backward", "nonzero", "masked_scatter_",
    "_unsafe_masked_index", "_unsafe_masked_index_put_accumulate", "searchsorted", "bucketize",
    "repeat_interleave", "_unique", "unique_dim", "_unique2", "unique_consecutive", "argsort",
]))(_index)
