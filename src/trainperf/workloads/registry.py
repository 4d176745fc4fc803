"""The workload zoo's registry.

A workload is a recipe for one training step of a real network: how to build the model (full size or
``tiny``), a synthetic batch, the loss and the optimizer. Building happens inside the caller's device and
dtype context (``torch.device("meta")`` + default dtype for capture; CPU fp32 for a real tiny step), so
recipes never choose a device. Listing the zoo imports no torch: recipes import their libraries lazily.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainperf.vocab import Domain

if TYPE_CHECKING:
    import torch

FLAVORS = ("full", "tiny")


class UnknownWorkloadError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass(frozen=True, kw_only=True)
class Size:
    """The size knobs a user may set. None means the workload's canonical value for the flavor."""

    batch: int | None = None
    seq: int | None = None
    """Sequence length in tokens (text/speech decoders); refused by workloads without one."""
    image_size: int | None = None
    """Image side in pixels (vision, diffusion); refused by workloads without images."""


@dataclass(frozen=True, kw_only=True)
class Repeat:
    """How a reduced-depth build maps onto the full model (capture once per distinct block, replicate).

    ``module_list``: fqn of the ModuleList holding the blocks (e.g. ``model.layers``).
    ``full_to_captured``: for each block of the full model, the index of the captured block it equals.
    """

    module_list: str
    full_to_captured: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Built:
    """Everything needed to run one training step. Callables are invoked inside the caller's
    device/dtype context (and FakeTensorMode during capture)."""

    make_model: Callable[[], torch.nn.Module]
    make_batch: Callable[[], Any]
    """Returns the batch; tensors created with torch factory functions (the caller's device applies)."""
    loss: Callable[[torch.nn.Module, Any], torch.Tensor]
    make_optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
    batch: int
    seq: int | None
    samples_per_step: int
    tokens_per_step: int
    """Tokens processed per step (all sequences, encoder and decoder; image patches for vision models)."""
    unit: str = "token"
    """What throughput counts: "token" (tokens_per_step) or "sample" (samples_per_step)."""
    model_flops: float = 0.0
    """Analytic model FLOPs of one step (fwd+bwd) by the workload's convention; 0 if it has none."""
    repeats: tuple[Repeat, ...] = ()
    """Set when this is a reduced-depth build (see Workload.build(reduced=True)): one Repeat per stack of
    identical blocks (an encoder-decoder has two)."""
    n_params_active: int | None = None
    """Parameters touched per token (MoE); None means all."""
    extra_buffers_note: str = ""

    @property
    def units_per_step(self) -> int:
        return self.tokens_per_step if self.unit == "token" else self.samples_per_step


@dataclass(frozen=True, kw_only=True)
class Workload:
    name: str
    domain: Domain
    library: str
    """Where the model code comes from: transformers, diffusers, torch_geometric, trainperf (hand-written)."""
    description: str
    source: str
    """Citation of the architecture config (paper / model card / config file)."""
    build_fn: Callable[..., Built]
    """build_fn(flavor: str, size: Size, reduced: bool) -> Built"""
    canonical: Mapping[str, Size]
    """Default Size per flavor (``full``, ``tiny``)."""
    published_params: float | None = None
    """Parameter count of the published architecture, for the test that checks the build."""
    published_params_source: str = ""
    params_tolerance: float = 0.02
    train_flops_per_unit: float | None = None
    """Reference model FLOPs (fwd+bwd) per token or sample at the canonical full size, with source."""
    train_flops_source: str = ""
    fake_ok: bool = True
    """False for data-dependent models that cannot be traced under FakeTensorMode (measure them for real)."""
    fake_note: str = ""
    supports_reduced: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)

    def size(self, flavor: str = "full", size: Size | None = None) -> Size:
        if flavor not in self.canonical:
            raise ValueError(f"workload {self.name!r} has no flavor {flavor!r}; flavors: {sorted(self.canonical)}")
        base = self.canonical[flavor]
        if size is None:
            return base
        return Size(
            batch=size.batch if size.batch is not None else base.batch,
            seq=size.seq if size.seq is not None else base.seq,
            image_size=size.image_size if size.image_size is not None else base.image_size,
        )

    def build(self, flavor: str = "full", size: Size | None = None, *, reduced: bool = False) -> Built:
        """Recipe for one step at ``flavor`` with ``size`` overrides. ``reduced=True`` asks for a
        reduced-depth model plus a Repeat map (ignored when the workload does not support it)."""
        s = self.size(flavor, size)
        canon = self.canonical[flavor]
        for knob, flag in (("seq", "--seq"), ("image_size", "--image-size")):
            if size is not None and getattr(size, knob) is not None and getattr(canon, knob) is None:
                # a knob the model has no use for would otherwise be dropped without a word
                have = [f for f in ("batch", "seq", "image_size") if getattr(canon, f) is not None]
                raise ValueError(f"{self.name} has no {knob} ({flag} {getattr(size, knob)}); its sizes are "
                                 f"{', '.join(have) or 'fixed'}")
        for knob, flag, hi in (("image_size", "--image-size", MAX_IMAGE), ("batch", "--batch", MAX_BATCH),
                               ("seq", "--seq", MAX_SEQ)):
            v = getattr(s, knob)
            if v is not None and not 1 <= v <= hi:
                raise ValueError(f"{self.name}: {flag} {v} must be in 1..{hi:,}")
        return self.build_fn(flavor, s, reduced and self.supports_reduced)


MAX_SEQ = 1 << 24
"""Longest sequence accepted where the model states no limit (16,777,216 tokens; the longest published
training contexts are ~10^7). The distributed planner uses the same bound (parallel/api.py check_job)."""
MAX_BATCH = 1 << 24
MAX_IMAGE = 1 << 15
"""Largest image side accepted (32,768 pixels)."""

_REGISTRY: dict[str, Workload] = {}


def register_workload(w: Workload) -> Workload:
    """Add ``w`` to the zoo. Names are unique; registering a name twice raises."""
    if w.name in _REGISTRY:
        raise ValueError(f"workload {w.name!r} registered twice")
    for flavor in FLAVORS:
        if flavor not in w.canonical:
            raise ValueError(f"workload {w.name!r} lacks the {flavor!r} flavor")
    _REGISTRY[w.name] = w
    return w


def _load_zoo() -> None:
    from trainperf.workloads import zoo  # noqa: F401  (modules register on import)


def list_workloads(pattern: str | None = None) -> list[Workload]:
    """Registered workloads, sorted by name; ``pattern`` is a glob (``llama*``) or a substring."""
    _load_zoo()
    items = sorted(_REGISTRY.values(), key=lambda w: w.name)
    if not pattern:
        return items
    if any(ch in pattern for ch in "*?["):
        return [w for w in items if fnmatch.fnmatch(w.name, pattern)]
    return [w for w in items if pattern.lower() in w.name.lower() or pattern.lower() == w.domain.value]


ALIASES = {"llama3-8b": "llama3.1-8b", "llama3-70b": "llama3.1-70b", "llama3-405b": "llama3.1-405b"}
"""Names people use for zoo workloads of the same architecture: Llama 3 and 3.1 share layers, widths, heads
and vocabulary (Meta's Llama 3.1 model card; 3.1 adds RoPE scaling for 128k context, no change in cost at
the sequence lengths trained), and 405B exists only as 3.1."""


def get_workload(name: str) -> Workload:
    """The workload called ``name`` (or an ALIASES name); an unknown name raises with the closest matches."""
    _load_zoo()
    name = ALIASES.get(name, name)
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownWorkloadError(
        f"unknown workload {name!r}{hint} (`trainperf zoo` lists all {len(_REGISTRY)})"
    )
