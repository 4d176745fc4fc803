"""Normalization layers (layer norm, RMS norm, batch norm, group norm), forward and backward.

Memory-bound: bytes = inputs once + outputs once. FLOPs are per element, approximate (NB: flagged as
estimates; they never decide a norm's time, bandwidth does): forward 5 (mean, var, normalize, scale, shift),
backward 8, following the per-element counts DeepSpeed's flops profiler uses for layer norm.
"""

from __future__ import annotations

from trainperf.costs.formulas._util import nbytes
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory

_FWD_FLOPS_PER_ELEM = 5.0
_BWD_FLOPS_PER_ELEM = 8.0


def _main_input(call: OpCall, backward: bool) -> TensorMeta:
    ts = call.tensors()
    # backward ops take grad_out first, input second: both have the activation's shape
    return ts[1] if backward and len(ts) > 1 else ts[0]


def _norm(call: OpCall, backward: bool) -> OpCost:
    x = _main_input(call, backward)
    reads = call.tensors()
    if call.outputs:
        writes: list[TensorMeta | None] = list(call.outputs)
    else:  # traces record no outputs: the activation-sized output dominates (stats are tiny)
        writes = [x]
    per = _BWD_FLOPS_PER_ELEM if backward else _FWD_FLOPS_PER_ELEM
    return OpCost(category=OpCategory.NORM, flops=per * x.numel, bytes_read=nbytes(reads),
                  bytes_written=nbytes(writes))


@register_cost(
    "aten::native_layer_norm", "aten::_fused_rms_norm", "aten::native_batch_norm",
    "aten::_native_batch_norm_legit", "aten::_native_batch_norm_legit_functional",
    "aten::_native_batch_norm_legit_no_training", "aten::cudnn_batch_norm", "aten::miopen_batch_norm",
    "aten::native_group_norm", "aten::_batch_norm_with_update", "aten::_batch_norm_no_update",
    "aten::layer_norm", "aten::rms_norm", "aten::group_norm", "aten::batch_norm",
)
def norm_forward(call: OpCall) -> OpCost:
    return _norm(call, backward=False)


@register_cost(
    "aten::native_layer_norm_backward", "aten::_fused_rms_norm_backward", "aten::native_batch_norm_backward",
    "aten::cudnn_batch_norm_backward", "aten::miopen_batch_norm_backward", "aten::native_group_norm_backward",
    "aten::batch_norm_backward",
)
def norm_backward(call: OpCall) -> OpCost:
    return _norm(call, backward=True)
