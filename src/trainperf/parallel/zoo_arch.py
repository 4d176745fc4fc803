"""TransformerArch of a zoo LLM (workloads/zoo): built from the workload's own transformers config.

Imports torch and transformers (inside the function): only the CLI and callers that name a zoo model pay
for it. The model is instantiated with one layer on the meta device; the full depth comes from the
workload's block-replication record (Built.repeats).
"""

from __future__ import annotations

from typing import Any

from trainperf.parallel.arch import TransformerArch, from_hf_config


def _gpt2_like(name: str, cfg: Any, layers: int) -> TransformerArch:
    d = int(cfg.n_embd)
    return TransformerArch(name=name, n_layers=layers, hidden=d, ffn_hidden=int(getattr(cfg, "n_inner", None) or 4 * d),
                           n_heads=int(cfg.n_head), n_kv_heads=int(cfg.n_head), vocab=int(cfg.vocab_size),
                           gated_mlp=False, tied_embeddings=True)


def arch_from_workload(name: str) -> TransformerArch:
    """The decoder architecture of a zoo workload (``llama3.1-405b``, ``qwen3-8b``...); ValueError if the
    workload is not a decoder-only transformer."""
    import dataclasses

    import torch

    from trainperf.workloads.registry import get_workload

    w = get_workload(name)
    built = w.build("full", reduced=w.supports_reduced)
    with torch.device("meta"):
        model = built.make_model()
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise ValueError(f"workload {name!r} has no transformers config; the parallel planner needs a decoder LLM")
    layers = len(built.repeats[0].full_to_captured) if built.repeats else None
    if hasattr(cfg, "n_embd"):
        return _gpt2_like(name, cfg, layers or int(cfg.n_layer))
    if not hasattr(cfg, "num_hidden_layers"):
        raise ValueError(f"workload {name!r} ({type(model).__name__}) is not a decoder-only LLM the planner covers")
    arch = from_hf_config(name, cfg)
    return dataclasses.replace(arch, n_layers=layers) if layers else arch
