"""Dense decoder LLMs built with transformers from their published configs (random init, no download).

Llama 2/3 and Qwen3 share one recipe (`LlamaArch`, family picks the transformers class: Qwen3 adds QK-norm);
GPT-2 and GPT-3 175B (the MLPerf dense-attention variant) use GPT2LMHeadModel (learned positions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import (
    adamw,
    check_heads,
    check_seq,
    decoder_train_flops_per_token,
    hf_loss,
    set_attention,
    token_batch,
)

_FLOPS_SRC = "6·N_matmul + 6·L·S·H·(d_qk+d_v) per token, no causal halving (docs/glossary.md); N from the built config"


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
    family: str = "llama"
    """``llama`` (LlamaForCausalLM) or ``qwen3`` (Qwen3ForCausalLM: RMSNorm on q and k per head)."""
    max_positions: int | None = None
    """Published context length; None lets RoPE models take any sequence."""

    def validate(self, seq: int) -> None:
        check_heads(f"{self.family} arch", self.hidden, self.heads, self.kv_heads, self.head_dim)
        if self.max_positions is not None:
            check_seq(f"{self.family} arch", seq, self.max_positions)

    @property
    def dh(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def matmul_params(self) -> int:
        """Parameters in matmuls per token: attention + MLP per layer, plus the LM head."""
        attn = self.hidden * self.dh * (self.heads * 2 + self.kv_heads * 2)
        mlp = 3 * self.hidden * self.ffn
        return self.layers * (attn + mlp) + self.vocab * self.hidden


def _llama_config(a: LlamaArch, seq: int, layers: int) -> Any:
    from transformers import LlamaConfig, Qwen3Config

    cls = {"llama": LlamaConfig, "qwen3": Qwen3Config}[a.family]
    cfg = cls(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, head_dim=a.dh,
        max_position_embeddings=a.max_positions or max(seq, 8192), tie_word_embeddings=a.tied,
        rope_parameters={"rope_type": "default", "rope_theta": a.rope_theta},
    )
    return set_attention(cfg)


def _llama_model(cfg: Any) -> Any:
    from transformers import LlamaForCausalLM, Qwen3ForCausalLM

    return {"llama": LlamaForCausalLM, "qwen3": Qwen3ForCausalLM}[cfg.model_type](cfg)


def llama_builder(full: LlamaArch, tiny: LlamaArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate(size.seq)
        layers = 1 if reduced else a.layers
        cfg = _llama_config(a, size.seq, layers)
        tokens = size.batch * size.seq
        flops = tokens * decoder_train_flops_per_token(a.matmul_params(), a.layers, size.seq, a.heads, a.dh, a.dh)
        return Built(
            make_model=lambda: _llama_model(cfg),
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
# Llama 2 7B: multi-head attention (kv = heads), 4k context (Touvron et al. 2023, arXiv 2307.09288, Table 1).
LLAMA2_7B = LlamaArch(vocab=32000, hidden=4096, ffn=11008, layers=32, heads=32, kv_heads=32, rope_theta=10000.0,
                      max_positions=4096)
# Qwen3-8B: Qwen/Qwen3-8B config.json (head_dim 128, GQA 32/8, rope_theta 1e6, 40960 positions).
QWEN3_8B = LlamaArch(vocab=151936, hidden=4096, ffn=12288, layers=36, heads=32, kv_heads=8, head_dim=128,
                     rope_theta=1_000_000.0, family="qwen3")

_LLAMA3_SRC = "Llama 3 herd paper (arXiv 2407.21783) Table 3; meta-llama/Llama-3.x config.json"

for _name, _arch, _params, _seq, _flops in [
    ("llama3.2-1b", LLAMA3_2_1B, 1.236e9, 2048, 6.0 * LLAMA3_2_1B.matmul_params() + 6.0 * 16 * 2048 * 32 * 128),
    ("llama3.1-8b", LLAMA3_1_8B, 8.030e9, 8192, 57.9e9),
    ("llama3.1-70b", LLAMA3_1_70B, 70.55e9, 8192, 481e9),
    ("llama3.1-405b", LLAMA3_1_405B, 405.85e9, 8192, 2625e9),
]:
    register_workload(Workload(
        name=_name, domain=Domain.LLM, library="transformers",
        description=f"Llama 3 dense decoder, {_arch.layers} layers, d={_arch.hidden}, GQA {_arch.heads}/{_arch.kv_heads}",
        source=_LLAMA3_SRC,
        build_fn=llama_builder(_arch, replace(_TINY_GQA4, tied=_arch.tied)),
        canonical={"full": Size(batch=1, seq=_seq), "tiny": Size(batch=2, seq=32)},
        published_params=_params, published_params_source=_LLAMA3_SRC,
        train_flops_per_unit=_flops,
        train_flops_source="shared/notes/zoo-and-capture.md Part 3: 6·N_active + 6·L·S·H·(d_qk+d_v), no causal halving",
        supports_reduced=True,
    ))

register_workload(Workload(
    name="llama2-7b", domain=Domain.LLM, library="transformers",
    description="Llama 2 7B dense decoder, 32 layers, d=4096, MHA 32 heads, SwiGLU 11008, 4k context",
    source="Touvron et al. 2023 (arXiv 2307.09288) Table 1; meta-llama/Llama-2-7b-hf config.json",
    build_fn=llama_builder(LLAMA2_7B, replace(_TINY_GQA4, kv_heads=8, rope_theta=10000.0, max_positions=64)),
    canonical={"full": Size(batch=1, seq=4096), "tiny": Size(batch=2, seq=32)},
    published_params=6.738e9,
    published_params_source="meta-llama/Llama-2-7b-hf model card / safetensors index: 6,738,415,616 parameters",
    train_flops_per_unit=LLAMA2_7B.matmul_params() * 6.0 + 6.0 * 32 * 4096 * 32 * 256,
    train_flops_source=_FLOPS_SRC + " at S=4096",
    supports_reduced=True, tags=("torchbench:llama_v2_7b_16h",),
))

register_workload(Workload(
    name="qwen3-8b", domain=Domain.LLM, library="transformers",
    description="Qwen3 8B dense decoder, 36 layers, d=4096, GQA 32/8, head_dim 128, QK-norm",
    source="Qwen3 technical report (arXiv 2505.09388) Table 1; Qwen/Qwen3-8B config.json",
    build_fn=llama_builder(QWEN3_8B, replace(_TINY_GQA4, family="qwen3", kv_heads=2)),
    canonical={"full": Size(batch=1, seq=4096), "tiny": Size(batch=2, seq=32)},
    published_params=8.2e9, published_params_source="Qwen/Qwen3-8B model card: 8.2B parameters (6.95B non-embedding)",
    train_flops_per_unit=QWEN3_8B.matmul_params() * 6.0 + 6.0 * 36 * 4096 * 32 * 256,
    train_flops_source=_FLOPS_SRC + " at S=4096",
    supports_reduced=True,
))


@dataclass(frozen=True, kw_only=True)
class GPT2Arch:
    """GPT-2 / GPT-3 style decoder: learned positions, LayerNorm, GELU MLP 4·d, tied LM head."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    positions: int

    def validate(self, seq: int) -> None:
        check_heads("gpt2 arch", self.hidden, self.heads)
        check_seq("gpt2 arch", seq, self.positions)

    def matmul_params(self) -> int:
        """QKV + out projection (4·d²) + MLP (8·d²) per layer, plus the tied LM head."""
        return self.layers * 12 * self.hidden * self.hidden + self.vocab * self.hidden


def gpt2_builder(full: GPT2Arch, tiny: GPT2Arch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        from transformers import GPT2Config

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate(size.seq)
        cfg = set_attention(GPT2Config(
            vocab_size=a.vocab, n_positions=a.positions, n_embd=a.hidden, n_layer=1 if reduced else a.layers,
            n_head=a.heads, n_inner=None, tie_word_embeddings=True, bos_token_id=a.vocab - 1, eos_token_id=a.vocab - 1,
            # Pretraining at scale runs without dropout (MPT/llm-foundry yamls: attn_pdrop = resid_pdrop = 0;
            # Llama 3 has none), which also lets SDPA pick the flash kernel; GELU's tanh form as one fused
            # kernel (same math as GPT-2's gelu_new, which eager PyTorch runs as ~11 pointwise kernels).
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu_pytorch_tanh",
        ))
        dh = a.hidden // a.heads
        tokens = size.batch * size.seq

        def make_model() -> Any:
            from transformers import GPT2LMHeadModel

            return GPT2LMHeadModel(cfg)

        return Built(
            make_model=make_model,
            make_batch=lambda: token_batch(size.batch, size.seq, a.vocab),  # type: ignore[arg-type]
            loss=hf_loss, make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch, tokens_per_step=tokens,
            model_flops=tokens * decoder_train_flops_per_token(a.matmul_params(), a.layers, size.seq, a.heads, dh, dh),
            repeats=(Repeat(module_list="transformer.h", full_to_captured=(0,) * a.layers),) if reduced else (),
        )

    return build


GPT2_124M = GPT2Arch(vocab=50257, hidden=768, layers=12, heads=12, positions=1024)
GPT3_175B = GPT2Arch(vocab=50257, hidden=12288, layers=96, heads=96, positions=2048)
_TINY_GPT = GPT2Arch(vocab=512, hidden=128, layers=2, heads=8, positions=64)

register_workload(Workload(
    name="gpt2-124m", domain=Domain.LLM, library="transformers",
    description="GPT-2 small: 12 layers, d=768, 12 heads, 1024 learned positions, tied LM head",
    source="Radford et al. 2019 (GPT-2); openai-community/gpt2 config.json; nanoGPT train_gpt2.py",
    build_fn=gpt2_builder(GPT2_124M, _TINY_GPT),
    # nanoGPT's GPT-2 reproduction: micro-batch 12 x 1024 tokens (x 40 accumulation = ~0.5M tokens/step)
    canonical={"full": Size(batch=12, seq=1024), "tiny": Size(batch=2, seq=32)},
    published_params=124.4e6,
    published_params_source="openai-community/gpt2 checkpoint: 124,439,808 parameters (the paper's 117M predates "
                            "the released checkpoint)",
    train_flops_per_unit=GPT2_124M.matmul_params() * 6.0 + 6.0 * 12 * 1024 * 12 * 128,
    train_flops_source=_FLOPS_SRC + " at S=1024",
    supports_reduced=True, tags=("torchbench:hf_GPT2", "nanogpt"),
))

register_workload(Workload(
    name="gpt3-175b", domain=Domain.LLM, library="transformers",
    description="GPT-3 175B with dense attention (the MLPerf variant; the paper alternates dense and locally "
                "banded sparse layers): 96 layers, d=12288, 96 heads of 128, 2048 learned positions",
    source="Brown et al. 2020 (arXiv 2005.14165) Table 2.1; MLPerf Training gpt3 reference",
    build_fn=gpt2_builder(GPT3_175B, _TINY_GPT),
    canonical={"full": Size(batch=1, seq=2048), "tiny": Size(batch=2, seq=32)},
    published_params=175.0e9, published_params_source="Brown et al. 2020 Table 2.1: 175.0B",
    train_flops_per_unit=GPT3_175B.matmul_params() * 6.0 + 6.0 * 96 * 2048 * 96 * 256,
    train_flops_source=_FLOPS_SRC + " at S=2048",
    supports_reduced=True, tags=("mlperf:gpt3",),
))
