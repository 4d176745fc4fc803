"""One recipe shape for the 2025-26 transformers networks: a config class, a model class, the published
config fields, and a model-FLOP convention (hybrid SSM/attention, linear attention, sparse attention, VLMs).

``HFSpec`` names the config and model classes and every field that differs from the class defaults (the
defaults drift between transformers releases: notes P11). ``kinds`` lists one label per decoder layer
(mamba/attention/mlp/moe...); a reduced build keeps the first layer of each kind (``reduced`` holds the config
fields of that short model) and maps every full layer onto it. Model FLOPs (``Built.model_flops``) follow
docs/zoo.md "2025-26 networks": 6 x the matmul parameters a token uses (counted on the meta-built module:
every nn.Linear, routed experts scaled by top_k/E, input embedding excluded) plus the sequence mixers'
closed forms (``_mixers.py``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainperf.workloads.registry import Built, Repeat, Size
from trainperf.workloads.zoo._common import adamw, experts_implementation, hf_loss, shortened, token_batch


@dataclass(frozen=True, kw_only=True)
class HFSpec:
    config: str
    """transformers config class name."""
    model: str
    """transformers model class name (a *ForCausalLM or *ForConditionalGeneration)."""
    kwargs: Mapping[str, Any]
    kinds: tuple[str, ...] = ()
    """One label per decoder layer (empty: the stack is not reduced)."""
    reduced: Mapping[str, Any] | None = None
    """Config fields of the short model holding the first layer of each kind, in first-seen order."""
    module_list: str = "model.layers"
    experts: tuple[int, int] = (0, 0)
    """(routed experts, top_k) for MoE models: expert weights count top_k/E of their size per token."""
    grouped_mm: bool = False
    """True where transformers offers the ``grouped_mm`` experts path (``_common.experts_implementation``)."""
    attn: str | None = "sdpa"
    """Attention implementation to pin; None for models without attention (pure Mamba-2)."""
    sub_configs: tuple[str, ...] = ()
    """Nested configs that need the attention implementation pinned too (VLMs: text_config, vision_config)."""
    vocab: int = 0

    def make_config(self, reduced: bool) -> Any:
        import transformers

        kw = dict(self.kwargs)
        if reduced and self.reduced is not None:
            kw.update(self.reduced)
        cfg = getattr(transformers, self.config)(**kw)
        if self.attn is not None:
            cfg._attn_implementation = self.attn
            for sub in self.sub_configs:
                getattr(cfg, sub)._attn_implementation = self.attn
        return cfg

    def make_model(self, cfg: Any) -> Any:
        import transformers

        if self.grouped_mm:
            cfg._experts_implementation = experts_implementation()
        return getattr(transformers, self.model)(cfg)

    def repeats(self) -> tuple[Repeat, ...]:
        _, mapping = shortened(list(self.kinds))
        return (Repeat(module_list=self.module_list, full_to_captured=mapping),)


def _is_expert_param(name: str, shape: tuple[int, ...]) -> bool:
    # Routed experts are stacked 3-d parameters (E, in, out) in transformers 5.x MoE blocks.
    return len(shape) == 3 and "expert" in name and "shared" not in name


@functools.lru_cache(maxsize=64)
def _active_matmul_params(spec_id: int) -> tuple[int, int]:
    spec = _SPECS[spec_id]
    import torch

    with torch.device("meta"):
        model = spec.make_model(spec.make_config(reduced=False))
    e, k = spec.experts
    total = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            total += mod.weight.numel()
    for name, p in model.named_parameters():
        if e and _is_expert_param(name, tuple(p.shape)):
            total += p.numel() * k // e
    return total, model.get_input_embeddings().weight.numel()


_SPECS: dict[int, HFSpec] = {}


def active_matmul_params(spec: HFSpec) -> int:
    """Matmul parameters one token uses (see module docstring), counted on a meta build (cached)."""
    _SPECS[id(spec)] = spec
    return _active_matmul_params(id(spec))[0]


def active_params(spec: HFSpec) -> int:
    """Parameters one token touches: its active matmul weights plus the input-embedding table (counted whole,
    as model cards do; the convention of moe.active_params)."""
    _SPECS[id(spec)] = spec
    return sum(_active_matmul_params(id(spec)))


MixerFlops = Callable[[int], float]
"""Sequence-mixer FLOPs (fwd+bwd) per token at sequence length S, beyond the projections' matmuls."""


@dataclass(frozen=True, kw_only=True)
class Recipe:
    full: HFSpec
    tiny: HFSpec
    mixer_full: MixerFlops
    mixer_tiny: MixerFlops
    make_batch: Callable[[HFSpec, Size], Callable[[], Any]] | None = None
    """Batch factory for models with more than token ids (VLMs); None: token_batch."""
    loss: Callable[[Any, Any], Any] = hf_loss
    tokens: Callable[[Size], int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def hf_builder(r: Recipe) -> Callable[[str, Size, bool], Built]:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        spec = r.full if flavor == "full" else r.tiny
        mixer = r.mixer_full if flavor == "full" else r.mixer_tiny
        assert size.batch is not None and size.seq is not None
        reduce = reduced and spec.reduced is not None and bool(spec.kinds)
        cfg = spec.make_config(reduce)
        tokens = r.tokens(size) if r.tokens else size.batch * size.seq
        flops = tokens * (6.0 * active_matmul_params(spec) + mixer(size.seq))
        make_batch = (r.make_batch(spec, size) if r.make_batch
                      else lambda: token_batch(size.batch, size.seq, spec.vocab))  # type: ignore[arg-type]
        return Built(
            make_model=lambda: spec.make_model(cfg), make_batch=make_batch, loss=r.loss, make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch, tokens_per_step=tokens,
            model_flops=flops, repeats=spec.repeats() if reduce else (),
            n_params_active=active_params(spec) if spec.experts[0] else None,
        )

    return build
