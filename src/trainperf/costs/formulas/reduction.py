"""Reductions and row-wise ops (softmax, losses): read the input once, write the (smaller) output once;
FLOPs = input elements (one add/compare each), softmax 5 per element (max, sub, exp, sum, div). Softmax
rows longer than a block's shared memory are read in several passes (_softmax_passes)."""

from __future__ import annotations

from trainperf.costs.formulas._util import int_arg, nbytes
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost, TensorMeta
from trainperf.vocab import OpCategory

_ROWWISE_SAME_SHAPE = {"_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
                       "cumsum", "cumprod", "sort", "_safe_softmax"}
_PER_ELEM = {"_softmax": 5.0, "_log_softmax": 5.0, "_safe_softmax": 5.0, "_softmax_backward_data": 3.0,
             "_log_softmax_backward_data": 3.0, "var": 3.0, "var_mean": 3.0, "std": 3.0, "std_mean": 3.0,
             "linalg_vector_norm": 2.0, "norm": 2.0, "binary_cross_entropy_with_logits": 6.0,
             "mse_loss": 3.0, "mse_loss_backward": 3.0}


def _reduction(call: OpCall) -> OpCost:
    ins = call.tensors()
    base = call.op.split("::")[-1]
    if call.outputs:
        outs: list[TensorMeta] = list(call.outputs)
    elif base in _ROWWISE_SAME_SHAPE and ins:
        outs = [ins[0]]
    else:
        outs = []  # a reduction's output is small next to its input; unknown in traces
    n_in = ins[0].numel if ins else 0
    return OpCost(category=OpCategory.REDUCTION, flops=_PER_ELEM.get(base, 1.0) * n_in,
                  bytes_read=nbytes(ins) * _softmax_passes(call, base), bytes_written=nbytes(outs))


# Shared memory one thread block can use without opting in: 48 KiB on every NVIDIA part since Kepler (CUDA C++
# Programming Guide, "Maximum amount of shared memory per thread block"), the `sharedMemPerBlock` that
# PyTorch's softmax kernels size against.
_SMEM_PER_BLOCK = 48 * 1024


def _softmax_passes(call: OpCall, base: str) -> float:
    """Input passes of PyTorch's softmax / log-softmax kernels over the last dim (aten/src/ATen/native/cuda/
    SoftMax.cu, host_softmax / host_softmax_backward): a row that fits a warp (<= 1024 elements), registers
    or the block's shared memory (dim_size < (sharedMemPerBlock - reduction scratch) / sizeof) is read once;
    a longer row (a vocabulary-sized log-softmax) runs cunn_SoftMaxForward, which reads it once for the max,
    once for the sum of exponentials and once to write the result (3 passes), and cunn_SoftMaxBackward,
    which reads grad and output once for the sum and again to write (2 passes)."""
    if base not in ("_softmax", "_log_softmax", "_safe_softmax", "_softmax_backward_data", "_log_softmax_backward_data"):
        return 1.0
    ins = call.tensors()
    if not ins or not ins[0].shape:
        return 1.0
    x = ins[0]
    dim = int_arg(call, 2 if base.endswith("backward_data") else 1, -1) % len(x.shape)
    if dim != len(x.shape) - 1:
        return 1.0  # softmax over an inner dim: the spatial kernel, one pass
    row_bytes = x.shape[-1] * x.nbytes / max(x.numel, 1)
    if row_bytes < _SMEM_PER_BLOCK:
        return 1.0
    return 2.0 if base.endswith("backward_data") else 3.0


register_cost(*(f"aten::{n}" for n in [
    "sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "aminmax", "prod", "any", "all",
    "var", "var_mean", "std", "std_mean", "norm", "linalg_vector_norm", "logsumexp", "cumsum", "cumprod",
    "_softmax", "_log_softmax", "_safe_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
    "nll_loss_forward", "nll_loss_backward", "nll_loss2d_forward", "nll_loss2d_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy", "binary_cross_entropy_backward",
    "mse_loss", "mse_loss_backward", "smooth_l1_loss", "smooth_l1_loss_backward", "huber_loss",
    "huber_loss_backward", "topk", "sort", "kthvalue", "median", "mode", "count_nonzero", "bincount",
    "histc", "_ctc_loss", "_ctc_loss_backward", "ctc_loss", "_cdist_forward", "_cdist_backward",
    "sum_to_size",
]))(_reduction)
