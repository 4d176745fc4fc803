"""``aten::masked_scatter_backward(grad, mask, sizes)``: the gradient of the scattered source is the masked
selection of the output gradient (torch/csrc/autograd FunctionsManual ``masked_scatter_backward``:
``grad.masked_select(mask)`` padded to the source's size). VLMs use ``masked_scatter`` to put image features
into the token embeddings (Llama 4, Qwen2.5-VL). Memory-bound: reads the gradient and the mask, writes the
source-sized gradient; two kernels (the selection and the zero-padding copy)."""

from __future__ import annotations

from trainperf.costs.formulas._util import nbytes
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost
from trainperf.vocab import OpCategory


@register_cost("aten::masked_scatter_backward")
def masked_scatter_backward(call: OpCall) -> OpCost:
    ins = call.tensors()
    written = nbytes(list(call.outputs)) if call.outputs else (ins[0].nbytes if ins else 0.0)
    return OpCost(category=OpCategory.EMBEDDING, flops=0.0, bytes_read=nbytes(ins), bytes_written=written, kernels=2)
