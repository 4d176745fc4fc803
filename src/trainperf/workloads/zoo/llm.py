"""Dense decoder LLMs built with transformers from their published configs (random init, no download)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw, decoder_train_flops_per_token, hf_loss, token_batch


@dataclass(frozen=True, kw_only=True)
class LlamaArch:
    vocab: int
    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int | None = None
    tied: bool = False
    rope_theta: float = 500000.0

    def validate(self, seq: int) -> None:
        if self.hidden % self.heads and self.head_dim is None:
            raise ValueError(f"heads={self.heads} does not divide hidden={self.hidden}")
        if self.heads % self.kv_heads:
            raise ValueError(f"kv_heads={self.kv_heads} does not divide heads={self.heads}")

    @property
    def dh(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def matmul_params(self) -> int:
        """Parameters in matmuls per token: attention + MLP per layer, plus the LM head."""
        attn = self.hidden * self.dh * (self.heads * 2 + self.kv_heads * 2)
        mlp = 3 * self.hidden * self.ffn
        return self.layers * (attn + mlp) + self.vocab * self.hidden


def _llama_config(a: LlamaArch, seq: int, layers: int) -> Any:
    from transformers import LlamaConfig

    cfg = LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, head_dim=a.dh,
        max_position_embeddings=max(seq, 8192), tie_word_embeddings=a.tied,
        rope_parameters={"rope_type": "default", "rope_theta": a.rope_theta},
    )
    cfg._attn_implementation = "sdpa"
    return cfg


def llama_builder(full: LlamaArch, tiny: LlamaArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        from transformers import LlamaForCausalLM

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate(size.seq)
        layers = 1 if reduced else a.layers
        cfg = _llama_config(a, size.seq, layers)
        tokens = size.batch * size.seq
        flops = tokens * decoder_train_flops_per_token(a.matmul_params(), a.layers, size.seq, a.heads, a.dh, a.dh)
        return Built(
            make_model=lambda: LlamaForCausalLM(cfg),
            make_batch=lambda: token_batch(size.batch, size.seq, a.vocab),  # type: ignore[arg-type]
            loss=hf_loss,
            make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch, tokens_per_step=tokens,
            model_flops=flops,
            repeats=(Repeat(module_list="model.layers", full_to_captured=(0,) * a.layers),) if reduced else (),
        )

    return build


# Tiny flavors keep the structure kernels care about: GQA ratio, head_dim a multiple of 16.
_TINY_GQA4 = LlamaArch(vocab=512, hidden=128, ffn=256, layers=2, heads=8, kv_heads=2, head_dim=16)

LLAMA3_2_1B = LlamaArch(vocab=128256, hidden=2048, ffn=8192, layers=16, heads=32, kv_heads=8, head_dim=64, tied=True)
LLAMA3_1_8B = LlamaArch(vocab=128256, hidden=4096, ffn=14336, layers=32, heads=32, kv_heads=8)
LLAMA3_1_70B = LlamaArch(vocab=128256, hidden=8192, ffn=28672, layers=80, heads=64, kv_heads=8)
LLAMA3_1_405B = LlamaArch(vocab=128256, hidden=16384, ffn=53248, layers=126, heads=128, kv_heads=8)

_LLAMA3_SRC = "Llama 3 herd paper (arXiv 2407.21783) Table 3; meta-llama/Llama-3.x config.json"

for _name, _arch, _params, _seq, _flops in [
    ("llama3.2-1b", LLAMA3_2_1B, 1.236e9, 2048, None),
    ("llama3.1-8b", LLAMA3_1_8B, 8.030e9, 8192, 57.9e9),
    ("llama3.1-70b", LLAMA3_1_70B, 70.55e9, 8192, 481e9),
    ("llama3.1-405b", LLAMA3_1_405B, 405.85e9, 8192, 2625e9),
]:
    register_workload(Workload(
        name=_name, domain=Domain.LLM, library="transformers",
        description=f"Llama 3 dense decoder, {_arch.layers} layers, d={_arch.hidden}, GQA {_arch.heads}/{_arch.kv_heads}",
        source=_LLAMA3_SRC,
        build_fn=llama_builder(_arch, _TINY_GQA4 if not _arch.tied else LlamaArch(**{**_TINY_GQA4.__dict__, "tied": True})),
        canonical={"full": Size(batch=1, seq=_seq), "tiny": Size(batch=2, seq=32)},
        published_params=_params, published_params_source=_LLAMA3_SRC,
        train_flops_per_unit=_flops,
        train_flops_source="shared/notes/zoo-and-capture.md Part 3: 6·N_active + 6·L·S·H·(d_qk+d_v), no causal halving",
        supports_reduced=True,
    ))
