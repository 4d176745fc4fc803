"""Scoped replacements of library code whose torch fallback cannot be captured at full size.

Jamba's Mamba-1 mixer falls back (without ``mamba_ssm``) to a Python loop over the sequence: per token and
layer a multiply-add of the state and a matmul with C, forward and backward, about 1.96 million recorded ops
and 80 s for one 4096-token Jamba step with its two captured Mamba layers, where training runs one fused
``selective_scan_fn`` kernel per layer and direction (Gu & Dao 2023, arXiv 2312.00752 sec. 3.3.2). Inside
``model_patches()`` the fallback is replaced by ``trainperf::selective_scan``: a custom op with the fused
kernel's signature (softplus of Δ + bias, discretization, scan, D skip and SiLU(z) gate in one op, as
``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``), a fake kernel for shapes (the output has u's
shape and dtype, as the CUDA kernel's), and a backward op. Both are shape-only: on real tensors (``capture --real``) the patched
function calls the library's loop, which is what eager PyTorch executes. Costs: costs/formulas/ssm.py.

Size assumption: none beyond the kernel's, which keeps no final state (``return_last_state`` is only asked for
with a cache, which training does not pass; the patch refuses it). The original function is restored on exit;
site-packages are never edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

_OPS: dict[str, Any] = {}


def _define_ops() -> dict[str, Any]:
    """Define the custom ops once per process (torch.library registrations cannot be undone)."""
    if _OPS:
        return _OPS
    import torch

    # explicit schemas: this module's annotations are strings (``from __future__ import annotations``)
    args = "Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, Tensor z, Tensor bias"

    @torch.library.custom_op("trainperf::selective_scan", mutates_args=(), schema=f"({args}) -> Tensor")
    def selective_scan(*ins: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("trainperf::selective_scan is a shape-only stand-in for fake-tensor captures")

    @selective_scan.register_fake
    def _(u: Any, delta: Any, a: Any, b: Any, c: Any, d: Any, z: Any, bias: Any) -> Any:
        return torch.empty_like(u)

    @torch.library.custom_op("trainperf::selective_scan_backward", mutates_args=(),
                             schema=f"(Tensor grad, {args}) -> Tensor[]")
    def selective_scan_backward(*ins: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError("trainperf::selective_scan_backward is a shape-only stand-in for fake captures")

    @selective_scan_backward.register_fake
    def _(grad: Any, *ins: Any) -> Any:
        return [torch.empty_like(t) for t in ins]

    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(*inputs)

    def backward(ctx: Any, grad: Any) -> Any:
        return tuple(torch.ops.trainperf.selective_scan_backward(grad, *ctx.saved_tensors))

    selective_scan.register_autograd(backward, setup_context=setup_context)
    _OPS["selective_scan"] = selective_scan
    return _OPS


def _patched_scan(hidden_states: Any, dt: Any, A: Any, B: Any, C: Any, D: Any = None, z: Any = None,
                  delta_bias: Any = None, delta_softplus: bool = False, return_last_state: bool = False,
                  **kwargs: Any) -> Any:
    from torch._subclasses.fake_tensor import FakeTensor

    if not isinstance(hidden_states, FakeTensor):  # real tensors: the library's own loop, as eager runs it
        return _ORIGINAL["jamba"](hidden_states, dt, A, B, C, D=D, z=z, delta_bias=delta_bias,
                                  delta_softplus=delta_softplus, return_last_state=return_last_state, **kwargs)
    if return_last_state or not delta_softplus or D is None or z is None or delta_bias is None:
        raise ValueError("capture: the fused selective-scan patch covers training's call (softplus Δ with bias, D, "
                         "z, no final state); capture this model with --real to run the library's loop")
    del kwargs
    op = _define_ops()["selective_scan"]
    return op(hidden_states, dt, A, B, C, D, z, delta_bias)


_ORIGINAL: dict[str, Any] = {}


@contextmanager
def model_patches() -> Iterator[None]:
    """Install the replacements above for the duration of the block (only for libraries already imported:
    a model that was never built needs no patch), and restore the originals afterwards."""
    import sys

    with ExitStack() as stack:
        jamba: Any = sys.modules.get("transformers.models.jamba.modeling_jamba")
        if jamba is not None and jamba.mamba_selective_scan is not _patched_scan:
            _ORIGINAL["jamba"] = jamba.mamba_selective_scan
            jamba.mamba_selective_scan = _patched_scan

            def restore() -> None:
                jamba.mamba_selective_scan = _ORIGINAL.pop("jamba")

            stack.callback(restore)
        yield
