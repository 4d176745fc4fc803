"""Pointwise ops: one pass over the data. Bytes = each tensor input once (at its own, un-broadcast size) +
the output once; FLOPs = output elements × a per-op count (1 unless listed). Memory-bound on every GPU."""

from __future__ import annotations

from trainperf.costs.formulas._util import broadcast, nbytes
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory

# Per-element FLOPs of transcendental-heavy ops (NB: estimates; bandwidth decides their time). A GELU
# (tanh form) is ~8 FLOPs, SiLU ~4 (exp, add, div, mul), softplus ~4.
_FLOPS_PER_ELEM = {
    "gelu": 8.0, "gelu_backward": 12.0, "silu": 4.0, "silu_backward": 6.0, "sigmoid": 4.0,
    "sigmoid_backward": 3.0, "tanh": 4.0, "tanh_backward": 3.0, "softplus": 4.0, "softplus_backward": 5.0,
    "erf": 4.0, "mish": 6.0, "mish_backward": 8.0, "hardswish_backward": 3.0, "elu_backward": 3.0,
    "addcmul": 2.0, "addcdiv": 2.0, "lerp": 3.0,
}

_COMPARISON = {"eq", "ne", "gt", "lt", "ge", "le", "logical_and", "logical_or", "logical_not", "logical_xor",
               "isnan", "isinf", "isfinite"}

_POINTWISE = [
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "neg_", "exp", "exp_", "exp2",
    "expm1", "log", "log_", "log1p", "log2", "pow", "pow_", "rsqrt", "rsqrt_", "sqrt", "sqrt_", "reciprocal",
    "reciprocal_", "sigmoid", "sigmoid_", "sigmoid_backward", "tanh", "tanh_", "tanh_backward", "silu", "silu_",
    "silu_backward", "gelu", "gelu_", "gelu_backward", "relu", "relu_", "threshold_backward", "threshold",
    "leaky_relu", "leaky_relu_", "leaky_relu_backward", "elu", "elu_", "elu_backward", "hardtanh",
    "hardtanh_", "hardtanh_backward", "hardswish", "hardswish_", "hardswish_backward", "hardsigmoid",
    "hardsigmoid_", "hardsigmoid_backward", "softplus", "softplus_backward", "mish", "mish_backward",
    "erf", "erf_", "sin", "cos", "abs", "abs_", "sign", "sgn", "floor", "ceil", "round", "trunc", "frac",
    "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum", "minimum", "fmod",
    "remainder", "where", "masked_fill", "masked_fill_", "addcmul", "addcmul_", "addcdiv", "addcdiv_",
    "lerp", "lerp_", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "atan2", "square",
    "native_dropout", "native_dropout_backward", "bernoulli_", "bernoulli", "triu", "tril",
    "glu", "glu_backward", "nan_to_num", "xlogy", "logit", "polar", "complex", "view_as_real_copy",
    "floor_divide", "true_divide", "logaddexp", "hypot", "bitwise_left_shift", "bitwise_right_shift",
    "heaviside", "copysign", "fmax", "fmin", "lgamma", "digamma", "sinh", "cosh", "atan", "asin", "acos",
    "tan", "exp2_", "softshrink", "hardshrink", "celu", "selu", "prelu", "rrelu_with_noise", "log_sigmoid_forward",
    "log_sigmoid_backward", "_prelu_kernel", "_prelu_kernel_backward", "logical_not_", "logical_and_",
    "logical_or_", "logical_xor_", "eq_", "ne_", "gt_", "lt_", "ge_", "le_", "_weight_norm_interface",
    "_weight_norm_interface_backward",
    *sorted(_COMPARISON),
]


def _elementwise(call: OpCall) -> OpCost:
    ins = call.tensors()
    if call.outputs:
        outs: list[TensorMeta] = list(call.outputs)
    else:
        base = call.op.split("::")[-1]
        shape = broadcast(*(t.shape for t in ins)) if ins else ()
        dtype = "bool" if base in _COMPARISON else (ins[0].dtype if ins else "float32")
        outs = [TensorMeta(shape, dtype)]
    base = call.op.split("::")[-1].rstrip("_")
    per = _FLOPS_PER_ELEM.get(base, 1.0)
    return OpCost(category=OpCategory.ELEMENTWISE, flops=per * outs[0].numel,
                  bytes_read=nbytes(ins), bytes_written=nbytes(outs))


register_cost(*(f"aten::{n}" for n in _POINTWISE))(_elementwise)


@register_cost("aten::fill_", "aten::zero_", "aten::zeros", "aten::ones", "aten::full", "aten::zeros_like",
               "aten::ones_like", "aten::full_like", "aten::new_zeros", "aten::new_ones", "aten::new_full",
               "aten::arange", "aten::scalar_tensor", "aten::randint", "aten::rand", "aten::randn",
               "aten::rand_like", "aten::randn_like", "aten::randint_like", "aten::uniform_", "aten::normal_",
               "aten::random_", "aten::linspace", "aten::eye", "aten::one_hot", "aten::masked_scatter")
def fill(call: OpCall) -> OpCost:
    """Kernels that write a tensor without reading one of the same size (fills, factories, RNG)."""
    outs = list(call.outputs) if call.outputs else call.tensors()[:1]
    written = nbytes(outs)
    return OpCost(category=OpCategory.ELEMENTWISE, flops=0.0, bytes_read=0.0, bytes_written=written,
                  kernels=1 if written else 0)
