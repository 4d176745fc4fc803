"""Measure one candidate: build the workload fresh under its knobs, run real training steps, time them.

The step is the one ``trainperf profile`` runs (forward through the recipe's loss, backward, optimizer
step, zero_grad; src/trainperf/profile/run.py), with the knobs applied around it. Every candidate starts
from the same weights and batch (seeded), so losses are comparable across candidates.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, cast

from trainperf.optimize.knobs import Knobs, OptimizerImpl, Precision, Sdpa
from trainperf.profile.run import _to_device
from trainperf.workloads.registry import Built


@dataclass(frozen=True, kw_only=True)
class MeasureConfig:
    warmup: int = 2
    """Untimed steps after the first (CUDA graph trees record on the first few calls)."""
    steps: int = 5
    """Timed steps; the candidate's step time is their median."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.warmup < 0:
            raise ValueError(f"steps={self.steps} must be >= 1 and warmup={self.warmup} >= 0")


@dataclass(frozen=True, kw_only=True)
class Measurement:
    step_times_s: tuple[float, ...]
    first_step_s: float
    """The first step: compilation and autotuning happen here."""
    losses: tuple[float, ...]
    """Every step's loss, first step first."""
    peak_memory_bytes: float | None
    """Peak allocated device memory (CUDA allocator); None on CPU, which has no per-run peak counter."""

    @property
    def median_step_s(self) -> float:
        return statistics.median(self.step_times_s)

    @property
    def compile_s(self) -> float:
        """First step less a steady step: the one-off cost (compilation, autotuning, graph capture)."""
        return max(self.first_step_s - self.median_step_s, 0.0)


def _seeded_build(built: Built, device: Any, seed: int) -> tuple[Any, Any]:
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with device:
            torch.manual_seed(seed)
            model = built.make_model()
            torch.manual_seed(seed + 1)
            batch = _to_device(built.make_batch(), device)
    finally:
        torch.set_default_dtype(old)
    model.train()
    return model, batch


def reference_loss(built: Built, *, device: str, seed: int = 0) -> float:
    """The eager fp32 loss of the first step (same weights, batch and dropout draws as every candidate)."""
    import torch

    dev = torch.device(device)
    model, batch = _seeded_build(built, dev, seed)
    with _fp32_matmuls(), torch.no_grad():
        torch.manual_seed(seed + 2)
        return float(built.loss(model, batch).detach().float().cpu())


@contextmanager
def _fp32_matmuls(tf32: bool = False) -> Iterator[None]:
    """fp32 (default) or TF32 matmuls and convs; restored on exit. cuDNN allows TF32 by default
    (torch.backends.cudnn.allow_tf32 = True), so an honest fp32 baseline turns it off."""
    import torch

    old = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old[0])
        torch.backends.cudnn.allow_tf32 = old[1]


def _largest_blocks(model: Any) -> list[Any]:
    import torch

    lists: list[Any] = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) >= 2]
    if not lists:
        return []
    biggest: Any = max(lists, key=len)
    return list(biggest)


def _checkpoint_blocks(model: Any) -> None:
    import functools

    from torch.utils.checkpoint import checkpoint

    for block in _largest_blocks(model):
        block.forward = functools.partial(checkpoint, block.forward, use_reentrant=False)


def _optimizer(built: Built, model: Any, impl: OptimizerImpl) -> Any:
    opt = built.make_optimizer(model.parameters())
    if impl is OptimizerImpl.RECIPE:
        return opt
    flags: dict[str, Any] = {"fused": impl is OptimizerImpl.FUSED, "foreach": impl is OptimizerImpl.FOREACH}
    if not {"fused", "foreach"} <= set(opt.defaults):
        raise ValueError(f"{type(opt).__name__} has no fused/foreach implementations")
    # Same class, groups and hyperparameters as the recipe's; only the implementation flags change.
    return type(opt)([{**g, **flags} for g in opt.param_groups], **cast(dict[str, Any], flags))


def _channels_last(model: Any, batch: Any) -> Any:
    import torch

    model.to(memory_format=torch.channels_last)

    def conv(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point():
            return x.contiguous(memory_format=torch.channels_last)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(conv(v) for v in x)
        return x

    return conv(batch)


def _fp8(model: Any) -> None:
    import torch
    from torchao.float8 import convert_to_float8_training

    # torchao's float8 GEMMs need both dims divisible by 16 (torchao/float8 README, module_filter_fn example).
    convert_to_float8_training(model, module_filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear)
                               and m.in_features % 16 == 0 and m.out_features % 16 == 0)


_SDPA = {Sdpa.FLASH: "FLASH_ATTENTION", Sdpa.EFFICIENT: "EFFICIENT_ATTENTION", Sdpa.CUDNN: "CUDNN_ATTENTION",
         Sdpa.MATH: "MATH"}


def measure(built: Built, knobs: Knobs, *, device: str, cfg: MeasureConfig | None = None) -> Measurement:
    """Build ``built`` on ``device`` under ``knobs`` and time ``cfg.steps`` steps after ``1 + cfg.warmup``."""
    import torch

    cfg = cfg or MeasureConfig()
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    model, batch = _seeded_build(built, dev, cfg.seed)
    if knobs.channels_last:
        batch = _channels_last(model, batch)
    if knobs.precision is Precision.FP8:
        _fp8(model)
    if knobs.checkpointing:
        _checkpoint_blocks(model)
    opt = _optimizer(built, model, knobs.optimizer)
    run: Any = torch.compile(model, mode=knobs.compile_mode) if knobs.compile_mode else model

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    with ExitStack() as stack:
        stack.enter_context(_fp32_matmuls(tf32=knobs.precision is Precision.TF32))
        if knobs.sdpa is not Sdpa.DEFAULT:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            stack.enter_context(sdpa_kernel([getattr(SDPBackend, _SDPA[knobs.sdpa])]))
        low = knobs.precision in (Precision.BF16, Precision.FP8)

        def step() -> Any:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=low):
                loss = built.loss(run, batch)  # type: ignore[arg-type]  # run: the module or its compiled wrapper
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss.detach()

        losses = []
        torch.manual_seed(cfg.seed + 2)  # the dropout draws reference_loss makes
        t0 = time.perf_counter()
        losses.append(step())
        sync()
        first = time.perf_counter() - t0
        for _ in range(cfg.warmup):
            losses.append(step())
        sync()
        times = []
        for _ in range(cfg.steps):
            t0 = time.perf_counter()
            losses.append(step())
            sync()
            times.append(time.perf_counter() - t0)
    peak = float(torch.cuda.max_memory_allocated(dev)) if cuda else None
    vals = tuple(float(x.float().cpu()) for x in losses)
    run = model = opt = None  # free this candidate's model and state before the next one builds
    if knobs.compile_mode:
        torch._dynamo.reset()  # the next candidate compiles its own model, not a cached graph of this one
    return Measurement(step_times_s=tuple(times), first_step_s=first, losses=vals, peak_memory_bytes=peak)
