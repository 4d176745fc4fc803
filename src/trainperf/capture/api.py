"""Capture one full training step (forward, backward, optimizer) as an OpGraph.

Default mode: the model is built on the ``meta`` device in the chosen dtype, then materialized inside
``FakeTensorMode`` (notes P4/P5: build on meta, choose dtype at construction, ``to_empty`` under fake),
so a 405B-parameter step runs with no GPU and no real memory. ``real=True`` runs on real CPU tensors
instead (for data-dependent models that cannot be traced on fake tensors; keep those small).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl

from trainperf.capture.replicate import expand, param_scale
from trainperf.opgraph import OpGraph, StepMeta
from trainperf.workloads.registry import Built, Size, get_workload

DTYPES = ("bfloat16", "float16", "float32")
_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}


def normalize_dtype(dtype: str) -> str:
    d = _DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if d not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported for capture; use one of bf16, fp16, fp32")
    return d


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _saved_bytes_hooks(params: set[int], rec: Any, per_module: dict[str, float]) -> Any:
    """saved_tensors_hooks that add up unique storages saved for backward, parameters excluded."""
    import torch

    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        key = st._cdata
        if key not in params and key not in seen:
            seen.add(key)
            mod = rec.producer.get(key, rec.modules.current)
            per_module[mod] = per_module.get(mod, 0.0) + float(st.nbytes())
        return t

    return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


def capture_built(built: Built, *, name: str, flavor: str, dtype: str = "bfloat16", real: bool = False) -> OpGraph:
    """Run one training step of ``built`` under the recorder and return its OpGraph."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from trainperf.capture.recorder import propagate_tags, recording
    from trainperf.capture.table import find_stacks, rows_to_frame
    from trainperf.vocab import Phase

    dt = getattr(torch, normalize_dtype(dtype))
    _quiet_model_libraries()
    t0 = time.perf_counter()
    if real:
        with _default_dtype(dt):
            model = built.make_model()
        ctx: Any = torch.device("cpu")
    else:
        with torch.device("meta"), _default_dtype(dt):
            model = built.make_model()
        ctx = FakeTensorMode(allow_non_fake_inputs=True)
    t1 = time.perf_counter()
    per_module_saved: dict[str, float] = {}
    from trainperf.capture.fake_impls import fake_impls
    from trainperf.capture.patches import model_patches

    # fake kernels for ops FakeTensorMode calls data-dependent (capture/fake_impls.py); fused-kernel stand-ins
    # for library fallbacks too slow to record (capture/patches.py)
    with ctx, fake_impls(), model_patches():
        if not real:
            model = model.to_empty(device="cpu")
            # to_empty gives every module a new parameter, untying tied weights (LM head = embedding):
            # retie them, or parameters, gradients and optimizer work are over-counted.
            tie = getattr(model, "tie_weights", None)
            if callable(tie):
                tie()
        model.train()
        param_keys = {p.untyped_storage()._cdata for p in model.parameters()}
        with _default_dtype(dt):
            batch = built.make_batch()
        opt = built.make_optimizer(model.parameters())
        _init_optimizer_state(model, opt)
        with recording(model) as (rec, _modules):
            with _saved_bytes_hooks(param_keys, rec, per_module_saved):
                loss = built.loss(model, batch)
            propagate_tags(loss)
            rec.phase = Phase.BWD
            loss.backward()
            rec.phase = Phase.OPTIMIZER
            opt.step()
        state_bytes = 0.0
        for st in opt.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    state_bytes += float(v.untyped_storage().nbytes())
        param_numels = {n: p.numel() for n, p in model.named_parameters()}
        trainable_numels = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
        param_bytes_captured = float(sum(p.numel() * p.element_size() for p in model.parameters()))
        grad_bytes_captured = float(sum(p.grad.numel() * p.grad.element_size() for p in model.parameters()
                                        if p.grad is not None))
    t2 = time.perf_counter()

    names = [n for n, _ in model.named_modules()]
    types = {n: type(m).__name__ for n, m in model.named_modules()}
    repeats = built.repeats
    for r in repeats:
        if r.module_list not in types:
            lists = [n for n, t in types.items() if t == "ModuleList"]
            raise ValueError(f"{name}: Repeat.module_list {r.module_list!r} is not a module of the built model; "
                             f"its ModuleLists are {lists[:8]}")
    stacks = find_stacks(names, [r.module_list for r in repeats])
    ops = rows_to_frame(rec.rows, types, stacks)
    n_params, ratio = param_scale(param_numels, repeats)
    # gradients, optimizer state and optimizer ops exist for trainable parameters only: a frozen parameter
    # outside the repeated blocks (a conformer's unused positional conv) must not dilute their ratio
    _, train_ratio = param_scale(trainable_numels, repeats)
    saved = _expand_saved(per_module_saved, stacks, repeats)
    if repeats:
        ops = expand(ops, repeats)
        is_opt = pl.col("phase") == Phase.OPTIMIZER.value
        ops = ops.with_columns(
            pl.when(is_opt).then(pl.col(c) * train_ratio).otherwise(pl.col(c)).alias(c)
            for c in ("flops", "bytes_read", "bytes_written")
        ).with_columns(
            pl.when(is_opt).then((pl.col("kernels").cast(pl.Float64) * train_ratio).round().clip(1).cast(pl.Int32))
            .otherwise(pl.col("kernels")).alias("kernels")
        )
    t3 = time.perf_counter()
    meta = StepMeta(
        workload=name, flavor=flavor, batch=built.batch, seq=built.seq, dtype=normalize_dtype(dtype),
        n_params=n_params, n_params_active=built.n_params_active or n_params,
        param_bytes=param_bytes_captured * ratio, grad_bytes=grad_bytes_captured * train_ratio,
        optimizer_state_bytes=state_bytes * train_ratio, activation_bytes=saved,
        tokens_per_step=built.tokens_per_step, samples_per_step=built.samples_per_step, unit=built.unit,
        model_flops=built.model_flops, captured_layers=sum(s.n for s in stacks) if repeats else 0,
        replicated_layers=sum(len(r.full_to_captured) for r in repeats), fake=not real,
        extra={"build_s": t1 - t0, "run_s": t2 - t1, "table_s": t3 - t2, "free_ops": float(rec.free_ops)},
    )
    return OpGraph(ops=ops, meta=meta)


def _quiet_model_libraries() -> None:
    """transformers logs config notices (e.g. GPT-2's unset ``loss_type``) that say nothing about the
    step; keep its errors only. Users who want its warnings back set TRANSFORMERS_VERBOSITY=warning."""
    import os
    import sys

    if "transformers" in sys.modules and "TRANSFORMERS_VERBOSITY" not in os.environ:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()


def _init_optimizer_state(model: Any, opt: Any) -> None:
    """Run one step on zero gradients so that lazily created state (Adam moments, step counters) exists:
    the captured step is a steady-state step, not the first one."""
    import torch

    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _expand_saved(per_module: dict[str, float], stacks: Any, repeats: Any) -> float:
    from trainperf.capture.table import layer_of

    if not repeats:
        return float(sum(per_module.values()))
    per_block: dict[int, float] = {}
    other = 0.0
    for mod, b in per_module.items():
        si, bi = layer_of(mod, stacks)
        if si < 0:
            other += b
        else:
            per_block[stacks[si].offset + bi] = per_block.get(stacks[si].offset + bi, 0.0) + b
    total, off = other, 0
    for r in repeats:
        for c in r.full_to_captured:
            total += per_block.get(off + c, 0.0)
        off += max(r.full_to_captured) + 1
    return total


def capture_workload(name: str, flavor: str = "full", size: Size | None = None, dtype: str = "bfloat16", *,
                     real: bool = False, replicate: bool = True) -> OpGraph:
    """Capture one training step of the zoo workload ``name``.

    ``replicate``: capture each distinct repeated block once and replicate it (same table, much faster).
    ``real``: run on real CPU tensors (needed for workloads that cannot be traced on fake tensors)."""
    w = get_workload(name)
    if not w.fake_ok and not real:
        raise ValueError(
            f"workload {name!r} cannot be traced on fake tensors ({w.fake_note or 'data-dependent control flow'}); "
            f"capture it for real on small sizes with `--real --flavor tiny`, or measure it on a device"
        )
    built = w.build(flavor, size, reduced=replicate)
    return capture_built(built, name=name, flavor=flavor, dtype=dtype, real=real)


def capture_module(
    make_model: Callable[[], Any], make_batch: Callable[[], Any], loss: Callable[[Any, Any], Any], *,
    make_optimizer: Callable[[Iterable[Any]], Any] | None = None, batch: int = 1, seq: int | None = None,
    tokens_per_step: int | None = None, dtype: str = "bfloat16", real: bool = False, name: str = "custom",
) -> OpGraph:
    """Capture a user's own model: factories for the module and the batch, a loss ``loss(model, batch)``,
    and optionally an optimizer factory (AdamW by default)."""
    from trainperf.workloads.zoo._common import adamw

    built = Built(make_model=make_model, make_batch=make_batch, loss=loss,
                  make_optimizer=make_optimizer or adamw, batch=batch, seq=seq, samples_per_step=batch,
                  tokens_per_step=tokens_per_step or batch * (seq or 1), unit="token" if seq else "sample")
    return capture_built(built, name=name, flavor="custom", dtype=dtype, real=real)


__all__ = ["capture_built", "capture_module", "capture_workload", "math"]
