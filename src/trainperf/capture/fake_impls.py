"""Fake-tensor implementations for aten ops that FakeTensorMode refuses as data-dependent, scoped to a capture.

``aten::_ctc_loss`` carries the ``data_dependent_output`` tag (torch/_subclasses/fake_impls.py ``data_dep``), so
FakeTensorMode raises DynamicOutputShapeException on it although, with the lengths given as Python ints, every
output shape is known from the inputs: the per-sample loss ``(N,)`` and the forward variables ``log_alpha``
``(N, T, 2·S_max + 1)`` (aten/src/ATen/native/LossCTC.cpp, ``ctc_loss_cpu_template``). For the Tensor-lengths
overload S_max is a data value; the documented size assumption is that the longest target fills the padded
target matrix (``targets.shape[1]``), which the zoo's synthetic batches guarantee (every transcript has the
same length). ``fake_impls()`` installs these kernels in torch's fake-impl registry for the duration of a
``with`` block and removes them afterwards; site-packages are never edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _ctc_loss_fake(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int = 0,
                   zero_infinity: bool = False) -> tuple[Any, Any]:
    del input_lengths, blank, zero_infinity  # shapes only
    n = log_probs.shape[1] if log_probs.dim() == 3 else 1
    if targets.dim() == 2:
        s_max = targets.shape[1]
    elif isinstance(target_lengths, (list, tuple)):
        s_max = max(target_lengths)
    else:
        raise ValueError("capture: CTC with concatenated 1-d targets and tensor lengths has a data-dependent "
                         "size; pass targets as a padded (batch, max_len) matrix")
    t = log_probs.shape[0]
    return log_probs.new_empty((n,)), log_probs.new_empty((n, t, 2 * s_max + 1))


def _ctc_loss_backward_fake(grad: Any, log_probs: Any, *args: Any, **kwargs: Any) -> Any:
    del grad, args, kwargs
    return log_probs.new_empty(log_probs.shape)  # the gradient of the log-probabilities, same shape


_KERNELS: dict[str, Any] = {
    "aten::_ctc_loss": _ctc_loss_fake, "aten::_ctc_loss.Tensor": _ctc_loss_fake,
    "aten::_ctc_loss_backward": _ctc_loss_backward_fake, "aten::_ctc_loss_backward.Tensor": _ctc_loss_backward_fake,
}


@contextmanager
def fake_impls() -> Iterator[None]:
    """Register the fake kernels above while the block runs (FakeTensorMode consults this registry before its
    data-dependent check: torch/_subclasses/fake_tensor.py, ``_dispatch_impl``)."""
    from torch._library import simple_registry
    from torch._library.fake_impl import Kernel

    added = []
    for qualname, fn in _KERNELS.items():
        holder = simple_registry.singleton.find(qualname).fake_impl
        kernel = Kernel(fn, "trainperf.capture.fake_impls")
        holder.kernels.append(kernel)
        added.append((holder, kernel))
    try:
        yield
    finally:
        for holder, kernel in added:
            holder.kernels.remove(kernel)
