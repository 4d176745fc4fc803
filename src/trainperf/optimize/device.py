"""`optimize_device`: the single-device settings that make one workload's training step fastest, measured.

Capture the workload once (per micro-batch and capture dtype), price each candidate's ExecConfig with
``predict_step`` on the local GPU's spec, order the candidates by predicted speedup, and measure them in
that order on the local device until the time budget runs out. Each measured candidate is guarded: every
loss finite, the first step's loss within ``loss_rtol`` of the eager fp32 loss on the same weights, batch
and seed, and the last step's loss not above the first's by more than that (training on one repeated batch
must not raise the loss); otherwise it is ``failed`` and not ranked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from trainperf.optimize.knobs import Compile, Context, Knobs, Skipped, candidate_space
from trainperf.optimize.measure import MeasureConfig, Measurement, measure, reference_loss
from trainperf.workloads.registry import Built, Size, get_workload


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True)
class OptimizeConfig:
    flavor: str = "tiny"
    device: str = "cpu"
    """cpu, cuda or cuda:N."""
    budget_s: float = 180.0
    """Wall-clock budget for the whole search, baseline included; candidates that would overrun it are skipped."""
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    loss_rtol: float = 0.05
    """Guard tolerance: bf16 keeps 8 significant bits (~0.4% per rounding); 5% covers a step's accumulated
    rounding and compiled kernels' own dropout draws, and still fails a loss scaled or diverged."""
    compile_prior_s: float = 60.0
    """Assumed compile time before one has been measured (CPU inductor compiled a tiny GPT-2 step in 42 s
    on this project's 2-core machine); afterwards the last measured compile time is used."""
    max_memory_fraction: float = 0.8
    """Micro-batch candidates whose modelled peak exceeds this share of device memory are skipped unrun."""

    def __post_init__(self) -> None:
        if not self.budget_s > 0:
            raise ValueError(f"--budget-s {self.budget_s} must be > 0 seconds")
        if not 0 < self.loss_rtol < 1:
            raise ValueError(f"loss_rtol={self.loss_rtol} must be in (0, 1)")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    knobs: Knobs
    status: Status
    reason: str = ""
    measured_step_s: float | None = None
    measured_speedup: float | None = None
    """Throughput (units/s) over the baseline's: the step-time ratio when the micro-batch is the baseline's."""
    predicted_speedup: float | None = None
    """The same ratio by the single-GPU model; None where it has no price (CPU, unpriced knobs, unknown GPU)."""
    compile_s: float | None = None
    peak_memory_bytes: float | None = None
    units_per_step: int = 0
    losses: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"knobs": self.knobs.to_dict(), "label": self.knobs.label(), "status": self.status.value,
                "reason": self.reason, "measured_step_s": self.measured_step_s,
                "measured_speedup": self.measured_speedup, "predicted_speedup": self.predicted_speedup,
                "compile_s": self.compile_s, "peak_memory_bytes": self.peak_memory_bytes,
                "units_per_step": self.units_per_step,
                "loss_first": self.losses[0] if self.losses else None,
                "loss_last": self.losses[-1] if self.losses else None}


@dataclass(frozen=True, kw_only=True)
class OptimizeResult:
    workload: str
    device: str
    baseline: Candidate
    candidates: tuple[Candidate, ...]
    """Every candidate in the order measured (ranked ones first by measured speedup when rendered)."""
    best: Candidate
    order: str
    """How candidates were ordered before measuring."""
    elapsed_s: float
    unit: str = "token"

    def ranked(self) -> list[Candidate]:
        ok = [c for c in (self.baseline, *self.candidates) if c.status is Status.OK]
        return sorted(ok, key=lambda c: -(c.measured_speedup or 0.0))

    def to_dict(self) -> dict[str, object]:
        return {"workload": self.workload, "device": self.device, "baseline": self.baseline.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates], "best": self.best.to_dict(),
                "order": self.order, "elapsed_s": self.elapsed_s, "unit": self.unit}


def _device_name(device: str) -> tuple[str, Any]:
    import platform

    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: no CUDA device is available here; use --device cpu")
        return f"{dev} {torch.cuda.get_device_name(dev)}", dev
    if dev.type != "cpu":
        raise ValueError(f"--device {device}: give cpu, cuda or cuda:N")
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)", dev


def _fp8_support(dev: Any) -> tuple[bool, str]:
    import importlib.util

    import torch

    if dev.type != "cuda":
        return False, "fp8 needs a CUDA GPU with fp8 tensor cores"
    if torch.cuda.get_device_capability(dev) < (8, 9):
        return False, "fp8 tensor cores need compute capability 8.9+ (Ada, Hopper, Blackwell)"
    if importlib.util.find_spec("torchao") is None:
        return False, "torchao is not installed (pip install torchao)"
    return True, ""


class _Pricer:
    """Captures per (micro-batch, dtype), memoized, and prices knobs with predict_step on the local GPUSpec."""

    def __init__(self, name: str, flavor: str, size: Size | None, gpu: Any, fake_ok: bool) -> None:
        self.name, self.flavor, self.size, self.gpu, self.fake_ok = name, flavor, size or Size(), gpu, fake_ok
        self._graphs: dict[tuple[int | None, str], Any] = {}

    def graph(self, batch: int | None, dtype: str) -> Any:
        key = (batch, dtype)
        if key not in self._graphs:
            from trainperf.capture.api import capture_workload

            size = replace(self.size, batch=batch) if batch else self.size
            self._graphs[key] = capture_workload(self.name, self.flavor, size, dtype, real=not self.fake_ok)
        return self._graphs[key]

    def throughput(self, k: Knobs) -> float | None:
        """Predicted units/s; None when the model cannot price it (no GPU spec, unpriced knobs)."""
        if self.gpu is None or k.unpriced():
            return None
        import polars as pl

        from trainperf.model import predict_step

        cfg = k.exec_config()
        est = predict_step(self.graph(k.micro_batch, cfg.capture_dtype), self.gpu, cfg)
        step = est.step_time_s
        if k.checkpointing:  # NB full recompute of the forward: an upper bound (embeddings/head are not redone)
            step += float(est.ops.filter(pl.col("phase") == "fwd")["time_s"].sum())
        return est.units_per_step / step if step > 0 else None


def _capacity(dev: Any) -> float:
    from trainperf.profile.run import _device_memory_bytes

    return _device_memory_bytes(dev)


def _modelled_peak(graph: Any, checkpoint_blocks: int) -> float:
    """Peak bytes by the model's memory terms (model/memory.py) without a GPU's capacity; checkpointing keeps
    about 2/n of the activations (block inputs plus one block recomputed at a time; NB an approximation)."""
    from trainperf.model.calibration import load_calibration

    m = graph.meta
    fp = load_calibration().footprint
    act = m.activation_bytes * (min(1.0, 2.0 / checkpoint_blocks) if checkpoint_blocks else 1.0)
    largest = float(graph.ops["bytes_written"].max() or 0.0)
    return m.param_bytes + m.grad_bytes + m.optimizer_state_bytes + act + largest * fp.transient_factor


def _recipe_optimizer(built: Built, dev: Any) -> str:
    """fused, foreach or forloop: which implementation the recipe's optimizer runs (one throwaway parameter)."""
    import torch

    opt = built.make_optimizer([torch.nn.Parameter(torch.zeros(1, device=dev))])
    if opt.defaults.get("fused"):
        return "fused"
    # foreach=None means the default: foreach on CUDA tensors, the for-loop on CPU (torch/optim/optimizer.py
    # _default_to_fused_or_foreach)
    foreach = opt.defaults.get("foreach")
    return "foreach" if foreach or (foreach is None and dev.type == "cuda") else "forloop"


def _guard(ms: Measurement, ref: float, rtol: float, rise: float = 0.0) -> str:
    """Empty when the losses pass; otherwise the reason. ``rise``: how much the baseline's own loss rose over
    its steps (a recipe with a large lr, e.g. SGD 0.1 with batch norm, may rise on a repeated batch)."""
    if not all(math.isfinite(x) for x in ms.losses):
        return f"loss not finite ({', '.join(f'{x:.4g}' for x in ms.losses)})"
    first, last = ms.losses[0], ms.losses[-1]
    if abs(first - ref) > rtol * abs(ref) + 1e-6:
        return f"first loss {first:.5g} vs eager fp32 {ref:.5g}: beyond {rtol:.0%}"
    if last > max(first, ref) * (1 + rtol + rise) + 1e-6:
        return f"loss rose from {first:.5g} to {last:.5g} on a repeated batch: diverging"
    return ""


def optimize_device(workload: str, cfg: OptimizeConfig | None = None, *, size: Size | None = None,
                    progress: Callable[[str], None] | None = None,
                    wrap_built: Callable[[Knobs, Built], Built] | None = None) -> OptimizeResult:
    """Search single-device settings of zoo ``workload`` on the local device; see the module docstring.

    ``wrap_built`` (a test hook) may rewrite a candidate's recipe before it runs (e.g. scale its loss)."""
    import torch

    cfg = cfg or OptimizeConfig()
    t_start = time.perf_counter()
    say = progress or (lambda _: None)
    w = get_workload(workload)
    label, dev = _device_name(cfg.device)
    built = w.build(cfg.flavor, size)
    gpu = None
    order = ("no GPU spec for this device, so no predicted speedups: eager candidates before compiled ones "
             "(compiling costs minutes on a CPU), each class in the order single knobs, stacks, micro-batches")
    if dev.type == "cuda":
        from trainperf.hardware import get_gpu

        try:
            gpu = get_gpu(torch.cuda.get_device_name(dev))
            order = f"by predicted speedup on {gpu.name} (single-GPU model), unpriced candidates last"
        except KeyError:
            order = f"{torch.cuda.get_device_name(dev)} is not in the catalog: " + order
    pricer = _Pricer(w.name, cfg.flavor, size, gpu, w.fake_ok)
    with torch.device("meta"):
        meta_model = built.make_model()
    from trainperf.optimize.measure import _largest_blocks

    n_blocks = len(_largest_blocks(meta_model))
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in meta_model.modules())
    del meta_model
    try:
        ops = set(pricer.graph(None, "float32").ops["op"].to_list())
        has_sdpa = any("scaled_dot_product" in o for o in ops)
    except Exception:
        has_sdpa = True
    fp8_ok, fp8_why = _fp8_support(dev)
    ctx = Context(device_type=dev.type, batch=built.batch, has_conv=has_conv, has_sdpa=has_sdpa,
                  has_blocks=n_blocks >= 2, fp8_ok=fp8_ok, fp8_reason=fp8_why)
    space = candidate_space(ctx)
    recipe_impl = _recipe_optimizer(built, dev)
    dup = {k for k in space.candidates if k.optimizer.value == recipe_impl and k == replace(Knobs(), optimizer=k.optimizer)}
    space = replace(space, candidates=tuple(k for k in space.candidates if k not in dup),
                    skipped=(*space.skipped, *(Skipped(knobs=k, reason=f"the recipe's optimizer is already {recipe_impl}")
                                                for k in dup)))

    say(f"baseline: {Knobs().label()} on {label}")
    base_ms = measure(built, Knobs(), device=cfg.device, cfg=cfg.measure)
    base_tp = built.units_per_step / base_ms.median_step_s
    base_pred = pricer.throughput(Knobs())
    refs: dict[int, float] = {built.batch: base_ms.losses[0]}
    base_why = _guard(base_ms, base_ms.losses[0], cfg.loss_rtol, rise=math.inf)
    rise = max(0.0, base_ms.losses[-1] / base_ms.losses[0] - 1.0) if base_ms.losses[0] > 0 else 0.0
    if base_why:
        raise ValueError(f"{workload}: the eager fp32 baseline itself fails the loss guard ({base_why})")
    baseline = Candidate(knobs=Knobs(), status=Status.OK, reason=f"recipe optimizer: {recipe_impl}",
                         measured_step_s=base_ms.median_step_s,
                         measured_speedup=1.0, predicted_speedup=1.0 if base_pred else None,
                         compile_s=None, peak_memory_bytes=base_ms.peak_memory_bytes,
                         units_per_step=built.units_per_step, losses=base_ms.losses)

    def predicted(k: Knobs) -> float | None:
        try:
            tp = pricer.throughput(k)
        except Exception:
            return None
        return tp / base_pred if tp and base_pred else None

    preds = {k: predicted(k) for k in space.candidates}
    if gpu is not None:
        todo = sorted(space.candidates, key=lambda k: -(preds[k] or -1.0))
    else:
        todo = sorted(space.candidates, key=lambda k: k.compile is not Compile.NONE)
    cap = _capacity(dev) * cfg.max_memory_fraction
    compile_s = cfg.compile_prior_s
    out: list[Candidate] = [Candidate(knobs=s.knobs, status=Status.SKIPPED, reason=s.reason) for s in space.skipped]
    for i, k in enumerate(todo, 1):
        mb = k.micro_batch or built.batch
        cb = built if k.micro_batch is None else w.build(cfg.flavor, replace(size or Size(), batch=mb))
        if wrap_built is not None:
            cb = wrap_built(k, cb)
        c = Candidate(knobs=k, status=Status.SKIPPED, predicted_speedup=preds[k], units_per_step=cb.units_per_step)
        left = cfg.budget_s - (time.perf_counter() - t_start)
        cost = ((1 + cfg.measure.warmup + cfg.measure.steps) * base_ms.median_step_s * mb / built.batch
                + (compile_s if k.compile is not Compile.NONE else 0.0))
        reason = ""
        if cost > left:
            reason = f"budget: needs about {cost:.0f} s, {max(left, 0):.0f} s left"
        elif k.micro_batch is not None:
            try:
                need = _modelled_peak(pricer.graph(mb, "float32"), n_blocks if k.checkpointing else 0)
                if need > cap:
                    reason = (f"memory model: {need / 2**30:.1f} GiB > {cfg.max_memory_fraction:.0%} of "
                              f"{_capacity(dev) / 2**30:.1f} GiB")
            except Exception as e:
                reason = f"memory model: capture failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        if not reason:
            try:
                if mb not in refs:
                    refs[mb] = reference_loss(cb, device=cfg.device, seed=cfg.measure.seed)
                ms = measure(cb, k, device=cfg.device, cfg=cfg.measure)
            except Exception as e:
                msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
                c = replace(c, status=Status.FAILED, reason=f"{type(e).__name__}: {msg}")
            else:
                if k.compile is not Compile.NONE:
                    compile_s = ms.compile_s
                why = _guard(ms, refs[mb], cfg.loss_rtol, rise)
                c = replace(c, status=Status.FAILED if why else Status.OK, reason=why,
                            measured_step_s=ms.median_step_s, compile_s=ms.compile_s if k.compile_mode else None,
                            measured_speedup=cb.units_per_step / ms.median_step_s / base_tp,
                            peak_memory_bytes=ms.peak_memory_bytes, losses=ms.losses)
        else:
            c = replace(c, reason=reason)
        out.append(c)
        say(_progress_line(i, len(todo), c))
    ok = [c for c in out if c.status is Status.OK]
    best = max([baseline, *ok], key=lambda c: c.measured_speedup or 0.0)
    return OptimizeResult(workload=w.name, device=label, baseline=baseline, candidates=tuple(out), best=best,
                          order=order, elapsed_s=time.perf_counter() - t_start, unit=built.unit)


def _progress_line(i: int, n: int, c: Candidate) -> str:
    pred = f", predicted {c.predicted_speedup:.2f}x" if c.predicted_speedup else ""
    if c.status is Status.OK and c.measured_step_s is not None:
        return f"[{i}/{n}] {c.knobs.label()}: {c.measured_step_s * 1e3:.2f} ms, {c.measured_speedup:.2f}x{pred}"
    return f"[{i}/{n}] {c.knobs.label()}: {c.status.value} ({c.reason})"
