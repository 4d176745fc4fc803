"""Checks shared by the zoo test modules (imported by them; pytest puts this folder on sys.path)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from trainperf.workloads import get_workload


def meta_model(name: str, reduced: bool = False, flavor: str = "full") -> tuple[Any, Any]:
    """(Built, model) with the model constructed on the meta device: no memory at any size."""
    built = get_workload(name).build(flavor, reduced=reduced)
    with torch.device("meta"):
        return built, built.make_model()


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_reduced_map(name: str) -> None:
    """Every full block has the same parameter names and shapes as the captured block the map points at,
    everything outside the stacks is identical, and the expanded count equals the full count exactly."""
    built, reduced = meta_model(name, reduced=True)
    _, full = meta_model(name)
    assert built.repeats, f"{name}: reduced build returned no Repeat map"
    red = {k: tuple(p.shape) for k, p in reduced.named_parameters()}
    ful = {k: tuple(p.shape) for k, p in full.named_parameters()}
    expanded = 0
    for r in built.repeats:
        blocks = full.get_submodule(r.module_list)
        assert len(r.full_to_captured) == len(blocks), f"{name}: map has {len(r.full_to_captured)} of {len(blocks)}"
        assert sorted(set(r.full_to_captured)) == list(range(len(reduced.get_submodule(r.module_list))))
        for j, c in enumerate(r.full_to_captured):
            fp, cp = f"{r.module_list}.{j}.", f"{r.module_list}.{c}."
            fj = {k[len(fp):]: s for k, s in ful.items() if k.startswith(fp)}
            cj = {k[len(cp):]: s for k, s in red.items() if k.startswith(cp)}
            assert fj and fj == cj, f"{name}: full block {j} differs from captured block {c}"
            expanded += sum(math.prod(s) for s in cj.values())
    stacks = tuple(r.module_list + "." for r in built.repeats)
    outside_f = {k: s for k, s in ful.items() if not k.startswith(stacks)}
    outside_r = {k: s for k, s in red.items() if not k.startswith(stacks)}
    assert outside_f == outside_r
    expanded += sum(math.prod(s) for s in outside_r.values())
    assert expanded == count_params(full)


def fake_step(built: Any, dtype: torch.dtype) -> tuple[Any, Any]:
    """The capture recipe: build on meta in ``dtype``, materialize and run one step under FakeTensorMode.
    ``to_empty`` unties shared parameters (a new Parameter per module), so tied models are re-tied."""
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = built.make_model()
    finally:
        torch.set_default_dtype(torch.float32)
    from trainperf.capture.fake_impls import fake_impls

    with FakeTensorMode(allow_non_fake_inputs=True), fake_impls():
        model = model.to_empty(device="cpu")
        if hasattr(model, "tie_weights"):
            model.tie_weights()
        batch = built.make_batch()
        loss = built.loss(model, batch)
        loss.backward()
        built.make_optimizer(model.parameters()).step()
    return model, loss
