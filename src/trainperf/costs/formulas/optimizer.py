"""Optimizer steps: fused (one op over all parameters) and foreach (multi-tensor) kernels.

Bytes per element of AdamW: read param, grad, exp_avg, exp_avg_sq; write param, exp_avg, exp_avg_sq.
Kernel launches follow PyTorch's multi_tensor_apply (aten/src/ATen/native/cuda/MultiTensorApply.cuh):
chunks of 65,536 elements, at most 320 blocks and a depth-dependent number of tensors per launch
(depth 1..5 -> 110, 64, 48, 36, 30 tensors).
"""

from __future__ import annotations

import math

from trainperf.costs.formulas._util import tensor_list_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory

_CHUNK = 65536
_MAX_BLOCKS = 320
_MAX_TENSORS = {1: 110, 2: 64, 3: 48, 4: 36, 5: 30}
# FLOPs per element of the update math (NB: estimate; bandwidth decides the time): AdamW ~ 12 (two moment
# updates, bias corrections, sqrt, div, weight decay, update), Adam 11, SGD with momentum 3.
_FLOPS_PER_ELEM = {"_fused_adamw_": 12.0, "_fused_adam_": 11.0, "_fused_sgd_": 3.0, "_fused_adagrad_": 6.0}


def multi_tensor_launches(tensors: list[TensorMeta], depth: int) -> int:
    """Kernel launches of multi_tensor_apply over ``tensors`` with ``depth`` tensor lists."""
    if not tensors:
        return 0
    chunks = sum(math.ceil(t.numel / _CHUNK) for t in tensors)
    max_t = _MAX_TENSORS.get(depth, 30)
    return max(math.ceil(len(tensors) / max_t), math.ceil(chunks / _MAX_BLOCKS))


@register_cost("aten::_fused_adamw_", "aten::_fused_adam_", "aten::_fused_sgd_", "aten::_fused_adagrad_")
def fused_optimizer(call: OpCall) -> OpCost:
    # (self[], grads[], exp_avgs[], exp_avg_sqs[], max_exp_avg_sqs[], state_steps[], lr, ...) for Adam(W);
    # (self[], grads[], momentum_buffer_list[], ...) for SGD.
    base = call.op.split("::")[-1]
    params = tensor_list_arg(call, 0)
    lists = [tensor_list_arg(call, i) for i in range(4 if "adam" in base else 3)]
    state = [ts for ts in lists[2:] if ts]
    read = sum(t.nbytes for ts in lists for t in ts)
    written = sum(t.nbytes for t in params) + sum(t.nbytes for ts in state for t in ts)
    n = sum(t.numel for t in params)
    return OpCost(category=OpCategory.OPTIMIZER, flops=_FLOPS_PER_ELEM.get(base, 10.0) * n, bytes_read=read,
                  bytes_written=written, kernels=multi_tensor_launches(params, 2 + len(state)))


def _foreach(call: OpCall) -> OpCost:
    """``_foreach_<op>[_]``: one elementwise op over lists; in-place variants write their first list."""
    lists = [tensor_list_arg(call, i) for i in range(len(call.args)) if isinstance(call.arg(i), tuple)]
    lists = [ts for ts in lists if ts]
    first = lists[0] if lists else []
    read = sum(t.nbytes for ts in lists for t in ts)
    base = call.op.split("::")[-1]
    if base.endswith("_norm") or "norm" in base:
        written = 4.0 * len(first)
    elif call.outputs:
        written = sum(t.nbytes for t in call.outputs)
    else:
        written = sum(t.nbytes for t in first)
    n = sum(t.numel for t in first)
    return OpCost(category=OpCategory.OPTIMIZER, flops=float(n), bytes_read=read, bytes_written=written,
                  kernels=multi_tensor_launches(first, len(lists) + (0 if base.endswith("_") else 1)))


_FOREACH = [
    "add", "sub", "mul", "div", "addcmul", "addcdiv", "lerp", "sqrt", "neg", "abs", "exp", "maximum",
    "minimum", "clamp_min", "clamp_max", "reciprocal", "sign", "pow", "zero", "copy", "sigmoid", "tanh",
]
register_cost(
    *(f"aten::_foreach_{n}" for n in _FOREACH),
    *(f"aten::_foreach_{n}_" for n in _FOREACH if n != "copy"),
    "aten::_foreach_copy_", "aten::_foreach_norm", "aten::_foreach_max", "aten::_amp_foreach_non_finite_check_and_unscale_",
)(_foreach)
