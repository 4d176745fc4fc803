"""``aten::grid_sampler_2d(input, grid, interpolation_mode, padding_mode, align_corners)`` and its backward:
bilinear sampling of ``input`` (N, C, H, W) at the ``grid`` (N, Ho, Wo, 2) locations, output (N, C, Ho, Wo)
(torch.nn.functional.grid_sample; deformable attention in RT-DETR / Deformable DETR samples its value maps
with it). PyTorch's CUDA kernel (aten/src/ATen/native/cuda/GridSampler.cu) runs one thread per output
location and loops over channels, reading four neighbouring input values per output value (bilinear;
one for nearest) and blending them with three multiply-adds and the four weights: 8 FLOPs per output
value bilinear, 0 nearest (interpolation_mode 0 = bilinear, 1 = nearest, 2 = bicubic: 16 taps).
Bytes: the grid once, the output once, and the input taps: four per output value, but never more than
the input itself (neighbouring outputs share taps in cache when the output is denser than the input).
The backward (``grad_output, input, grid, interpolation_mode, padding_mode, align_corners,
output_mask``) re-reads the taps, scatters each output gradient into four input-gradient values
(atomicAdd into a zero-filled grad_input: a fill kernel and the scatter kernel) and writes the grid
gradient: twice the forward's FLOPs plus the weights' derivatives (4 per output value)."""

from __future__ import annotations

from trainperf.costs.formulas._util import int_arg, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import OpCall, OpCost
from trainperf.vocab import OpCategory

_TAPS = {0: 4.0, 1: 1.0, 2: 16.0}  # bilinear, nearest, bicubic
_FLOPS_PER_TAP = 2.0  # one multiply-add per tap and channel


def _parts(call: OpCall, inp_at: int) -> tuple[float, float, float, float, float]:
    """(output values, taps per value, input bytes, grid bytes, element bytes) of a call."""
    inp, grid = tensor_arg(call, inp_at), tensor_arg(call, inp_at + 1)
    if inp is None or grid is None or len(inp.shape) != 4 or len(grid.shape) != 4:
        raise ValueError(f"{call.op}: expected a 4-d input and a 4-d grid")
    n, c = inp.shape[0], inp.shape[1]
    out_values = float(n * c * grid.shape[1] * grid.shape[2])
    taps = _TAPS.get(int_arg(call, inp_at + 2, 0), 4.0)
    return out_values, taps, inp.nbytes, grid.nbytes, inp.nbytes / max(inp.numel, 1)


@register_cost("aten::grid_sampler_2d")
def grid_sampler_2d(call: OpCall) -> OpCost:
    out_values, taps, inp_b, grid_b, el = _parts(call, 0)
    taps_b = min(inp_b, taps * out_values * el)
    return OpCost(category=OpCategory.ELEMENTWISE, flops=_FLOPS_PER_TAP * taps * out_values,
                  bytes_read=taps_b + grid_b, bytes_written=out_values * el)


@register_cost("aten::grid_sampler_2d_backward")
def grid_sampler_2d_backward(call: OpCall) -> OpCost:
    out_values, taps, inp_b, grid_b, el = _parts(call, 1)
    taps_b = min(inp_b, taps * out_values * el)
    return OpCost(category=OpCategory.ELEMENTWISE, flops=(2.0 * _FLOPS_PER_TAP + 1.0) * taps * out_values,
                  bytes_read=out_values * el + taps_b + grid_b,  # grad_output, the input taps, the grid
                  bytes_written=inp_b + taps_b + grid_b,  # zero-filled grad_input, its scattered taps, grad_grid
                  kernels=2)
