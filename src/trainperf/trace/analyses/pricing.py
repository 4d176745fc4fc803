"""Pricing one op call recorded with shapes, and the GPU to price it on: the part of speed of light
(sol.py) that needs no polars, shared with the small-trace engine (trace/quick/)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from trainperf.costs import OpCall

# Below this much roofline time per kernel, a kernel's fixed cost dominates: an empty kernel takes about
# 2-5 us from launch to completion on V100..H100 (NVIDIA CUDA C++ Best Practices Guide, kernel launch
# overhead; measured with empty kernels in PyTorch's CUDA-graphs blog post, 2021).
KERNEL_FLOOR_NS = 5_000


def op_call(name: str, shapes_json: str) -> OpCall:
    """An OpCall from one row's ``shapes`` column (JSON [Input Dims, Input type, Concrete Inputs, Input
    Strides]; files cached before strides were kept have three)."""
    # the cost registry is imported on first use: traces without shapes never need it (6 ms of imports)
    from trainperf.costs.profiler import op_call_from_profiler

    dims, types, concrete, *strides = orjson.loads(shapes_json)
    return op_call_from_profiler(name, dims, types, concrete, strides[0] if strides else None)


NO_SHAPES, UNRECORDED, NO_FORMULA = "no shapes", "shapes unrecorded", "no formula"


def price(name: str, shapes: str | None) -> tuple[Any, ...]:
    """(cost category, FLOPs, bytes, math dtype, covered, why unpriced) of one op call that launched GPU
    work. Unpriced, never a 0-byte op: an op without recorded shapes, one whose tensor list was recorded
    as [] (older Kineto), one no formula covers, and one a formula finds neither bytes nor FLOPs in (it
    launched kernels, so what it worked on was not recorded: the output of aten::arange, say)."""
    from trainperf.costs import cost
    from trainperf.costs.profiler import op_call_from_profiler, shapes_unrecorded

    if shapes is None:
        return (None, None, None, None, False, NO_SHAPES)
    try:
        dims, types, concrete, *strides = orjson.loads(shapes)
        if not isinstance(dims, list) or shapes_unrecorded(dims, types if isinstance(types, list) else None):
            return (None, None, None, None, False, UNRECORDED)
        call = op_call_from_profiler(name, dims, types, concrete, strides[0] if strides else None)
    except Exception:  # Input Dims / Input type the profiler never writes (a corrupt file): unpriced
        return (None, None, None, None, False, UNRECORDED)
    try:
        c = cost(call)
    except Exception:  # a formula that cannot read these shapes: uncovered, never a crash
        c = None
    if c is None:
        return (None, None, None, None, False, NO_FORMULA)
    if not (c.flops or c.bytes):
        return (None, None, None, None, False, UNRECORDED)
    return (c.category.value, float(c.flops), float(c.bytes), c.math_dtype, True, None)


def peak_tflops(gpu: Any, dtype: str | None) -> float | None:
    if dtype is None:
        return None
    for d in (dtype, "float32"):  # a dtype the part lacks (bf16 on V100) runs at the fp32 rate
        try:
            return float(gpu.peak_tflops(d))
        except ValueError:
            continue
    return None


def resolve_gpu(name: str | None, props: dict[str, Any] | None = None) -> tuple[Any | None, str | None]:
    """The GPUSpec for a device from the trace or ``--gpu`` (trainperf.hardware.get_gpu), or None and a
    one-line reason; the only place the trace analyzer looks up hardware. ``props`` (the rank's
    deviceProperties entry) identifies parts whose device name is shared (ROCm's "AMD Radeon Graphics")."""
    if not name:
        return None, "no GPU named in the trace (deviceProperties); pass --gpu for speed of light"
    from trainperf.hardware import get_gpu

    try:
        return get_gpu(props if props and "numSms" in props else name), None
    except KeyError as e:
        msg = e.args[0] if e.args else str(e)
        return None, f"speed of light skipped: {msg}; pass --gpu NAME"
