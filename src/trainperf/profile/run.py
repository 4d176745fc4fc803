"""Run a workload's real training steps on the local device and record a Kineto trace.

The trace is the same format a user's own GPU job writes (torch.profiler, shapes recorded), so
``trainperf analyze`` reads both, and the measured step times can be compared with ``trainperf predict``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainperf.workloads.registry import Built, Size, get_workload

_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16"}


@dataclass(frozen=True, kw_only=True)
class ProfileConfig:
    device: str = "cpu"
    """cpu, cuda or cuda:N."""
    dtype: str = "fp32"
    """Parameter and activation dtype: fp32, bf16 or fp16."""
    warmup: int = 2
    """Steps run before timing (allocator, autotuning, lazy state)."""
    steps: int = 3
    """Timed and recorded steps."""
    record_shapes: bool = True
    """Record op input shapes (needed for speed-of-light analysis of the trace)."""
    max_memory_fraction: float = 0.5
    """Refuse to build a model whose estimated training state exceeds this share of device memory."""

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {sorted(set(_DTYPES))}")
        if self.steps < 1 or self.warmup < 0:
            raise ValueError(f"steps={self.steps} must be >= 1 and warmup={self.warmup} >= 0")


@dataclass(frozen=True)
class ProfileResult:
    workload: str
    device: str
    step_times_s: list[float]
    trace_path: Path | None
    tokens_per_step: int
    """Units of throughput per step (tokens or samples, as ``unit`` says)."""
    unit: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_step_s(self) -> float:
        return statistics.median(self.step_times_s)

    @property
    def throughput(self) -> float:
        return self.tokens_per_step / self.median_step_s


def _device_memory_bytes(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return float(torch.cuda.get_device_properties(device).total_memory)
    import os

    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _to_device(batch: Any, device: Any) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def profile_built(built: Built, *, name: str, cfg: ProfileConfig, trace_path: Path | None = None,
                  expected_params: float | None = None) -> ProfileResult:
    import torch

    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {cfg.device}: no CUDA device is available here; use --device cpu")
    dt = getattr(torch, _DTYPES[cfg.dtype])
    if expected_params:
        # params + grads + two Adam moments in the chosen dtype, before activations
        need = expected_params * 4 * torch.finfo(dt).bits / 8
        have = _device_memory_bytes(device)
        if need > cfg.max_memory_fraction * have:
            raise ValueError(
                f"{name}: about {need / 2**30:.1f} GiB of weights, gradients and optimizer state do not fit in "
                f"{cfg.max_memory_fraction:.0%} of {have / 2**30:.1f} GiB on {device}; use --flavor tiny or "
                f"`trainperf predict` for full-size models")
    old = torch.get_default_dtype()
    torch.set_default_dtype(dt)
    try:
        with device:
            model = built.make_model()
            batch = _to_device(built.make_batch(), device)
    finally:
        torch.set_default_dtype(old)
    model.train()
    opt = built.make_optimizer(model.parameters())

    def step() -> None:
        loss = built.loss(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(cfg.warmup):
        step()
    sync()
    times: list[float] = []
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    # Timed steps run outside the profiler (its overhead would inflate them); recorded steps after.
    for _ in range(cfg.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        with torch.profiler.profile(activities=activities, record_shapes=cfg.record_shapes) as prof:
            for i in range(cfg.steps):
                # the span name the profiler's own schedule writes, so analyzers find steps the usual way
                with torch.profiler.record_function(f"ProfilerStep#{i}"):
                    step()
                    sync()
        tmp = trace_path.with_name(trace_path.name + ".tmp.json")
        prof.export_chrome_trace(str(tmp))
        tmp.replace(trace_path)
    return ProfileResult(workload=name, device=str(device), step_times_s=times, trace_path=trace_path,
                         tokens_per_step=built.units_per_step, unit=built.unit,
                         extra={"torch": torch.__version__, "dtype": cfg.dtype})


def profile_workload(name: str, flavor: str = "tiny", size: Size | None = None, cfg: ProfileConfig | None = None,
                     trace_path: Path | None = None) -> ProfileResult:
    """Run ``cfg.steps`` real training steps of zoo workload ``name`` on the local device."""
    cfg = cfg or ProfileConfig()
    w = get_workload(name)
    built = w.build(flavor, size)
    return profile_built(built, name=name, cfg=cfg, trace_path=trace_path,
                         expected_params=w.published_params if flavor == "full" else None)
