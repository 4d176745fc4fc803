"""Hybrid state-space/attention decoders and pure Mamba-2 (transformers configs, random init, no download).

The state-space mixers run transformers' torch reference paths on the CPU and under fake tensors
(``mamba_ssm`` and ``causal_conv1d`` are not installed): Mamba-2 SSD as the chunked einsum/cumsum/exp form
(``torch_chunk_scan_combined``), Jamba's Mamba-1 as a per-token sequential loop. Every op they launch is
an aten op with a formula; docs/zoo.md "2025-26 networks" compares their FLOPs with the fused kernels'.
"""

from __future__ import annotations

from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._hf import HFSpec, Recipe, hf_builder

_NO_IDS: dict[str, Any] = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
_TINY_SIZE = Size(batch=2, seq=32)

# --- Nemotron-H 8B: nvidia/Nemotron-H-8B-Base-8K config.json (52 layers: 24 Mamba-2, 4 attention, 24 MLP) ---
_NEMO_PATTERN = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"
_NEMO_KIND = {"M": "mamba", "*": "attention", "-": "mlp"}
_NEMO_KINDS = tuple(_NEMO_KIND[c] for c in _NEMO_PATTERN)
NEMOTRON_H_8B = HFSpec(
    config="NemotronHConfig", model="NemotronHForCausalLM", vocab=131072, kinds=_NEMO_KINDS,
    kwargs=dict(vocab_size=131072, hidden_size=4096, layers_block_type=list(_NEMO_KINDS), num_attention_heads=32,
                num_key_value_heads=8, head_dim=128, intermediate_size=21504, mlp_hidden_act="relu2",
                ssm_state_size=128, mamba_num_heads=128, mamba_head_dim=64, n_groups=8, conv_kernel=4, expand=2,
                chunk_size=128, max_position_embeddings=8192, tie_word_embeddings=False),
    reduced=dict(layers_block_type=["mamba", "mlp", "attention"]),
)
_TINY_NEMO = HFSpec(
    config="NemotronHConfig", model="NemotronHForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, layers_block_type=["mamba", "mlp", "attention", "mlp"],
                num_attention_heads=8, num_key_value_heads=2, head_dim=16, intermediate_size=256,
                mlp_hidden_act="relu2", ssm_state_size=16, mamba_num_heads=8, mamba_head_dim=32, n_groups=2,
                chunk_size=8, **_NO_IDS),
)


def _nemo_mixer(seq: int, *, mamba: int, attn: int, heads: int, kv: int, hd: int, mheads: int, mhd: int,
                state: int, groups: int, chunk: int) -> float:
    del kv
    return (mx.mamba2_ssd(mamba, seq, heads=mheads, head_dim=mhd, state=state, groups=groups, chunk=chunk)
            + mx.softmax_attention(attn, seq, heads, hd, hd))


register_workload(Workload(
    name="nemotron-h-8b", domain=Domain.LLM, library="transformers",
    description="Nemotron-H 8B hybrid: 52 layers (24 Mamba-2 of 128 heads x 64, state 128, 8 groups; 4 GQA "
                "attention 32/8; 24 squared-ReLU MLP 21504), d=4096, 8k context",
    source="NVIDIA Nemotron-H (arXiv 2504.03624) Table 1; nvidia/Nemotron-H-8B-Base-8K config.json "
           "(hybrid_override_pattern)",
    build_fn=hf_builder(Recipe(
        full=NEMOTRON_H_8B, tiny=_TINY_NEMO,
        mixer_full=lambda s: _nemo_mixer(s, mamba=24, attn=4, heads=32, kv=8, hd=128, mheads=128, mhd=64,
                                         state=128, groups=8, chunk=128),
        mixer_tiny=lambda s: _nemo_mixer(s, mamba=1, attn=1, heads=8, kv=2, hd=16, mheads=8, mhd=32, state=16,
                                         groups=2, chunk=8),
    )),
    # Nemotron-H pre-training: 8192-token sequences (arXiv 2504.03624 sec. 2.5)
    canonical={"full": Size(batch=1, seq=8192), "tiny": _TINY_SIZE},
    published_params=8.1e9,
    published_params_source="nvidia/Nemotron-H-8B-Base-8K model card: 8.1B parameters (the paper's '8B')",
    supports_reduced=True, tags=("hybrid", "mamba2"),
))

# --- Jamba v0.1: ai21labs/Jamba-v0.1 config.json = JambaConfig defaults, spelled out ---
JAMBA_KW: dict[str, Any] = dict(
    vocab_size=65536, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=8, num_experts=16, num_experts_per_tok=2, expert_layer_period=2, expert_layer_offset=1,
    attn_layer_period=8, attn_layer_offset=4, mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=256,
    # training keeps no recurrent cache (the fused scan returns no final state without one: capture/patches.py)
    output_router_logits=False, use_cache=False,
)


def _jamba_kinds(layers: int, attn_period: int, attn_offset: int) -> tuple[str, ...]:
    return tuple(("attention" if i % attn_period == attn_offset else "mamba") + ("-moe" if i % 2 == 1 else "-mlp")
                 for i in range(layers))


JAMBA = HFSpec(
    config="JambaConfig", model="JambaForCausalLM", vocab=65536, kwargs=JAMBA_KW, kinds=_jamba_kinds(32, 8, 4),
    # first-seen kinds: mamba-mlp (0), mamba-moe (1), attention-mlp (4): 3 layers with attention at 2
    reduced=dict(num_hidden_layers=3, attn_layer_period=3, attn_layer_offset=2), experts=(16, 2),
    grouped_mm=True,
)
_TINY_JAMBA = HFSpec(
    config="JambaConfig", model="JambaForCausalLM", vocab=512, experts=(4, 2), grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=8,
                num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, expert_layer_period=2,
                expert_layer_offset=1, attn_layer_period=4, attn_layer_offset=2, mamba_d_state=16, mamba_dt_rank=8,
                output_router_logits=False, use_cache=False, **_NO_IDS),
)

register_workload(Workload(
    name="jamba-v0.1", domain=Domain.MOE, library="transformers",
    description="Jamba v0.1 hybrid MoE: 32 layers in blocks of 8 (1 attention : 7 Mamba-1, state 16), MoE on "
                "every other layer (16 experts of 14336, top-2), d=4096, GQA 32/8",
    source="Lieber et al. 2024 'Jamba' (arXiv 2403.19887) sec. 3; ai21labs/Jamba-v0.1 config.json",
    build_fn=hf_builder(Recipe(
        full=JAMBA, tiny=_TINY_JAMBA,
        mixer_full=lambda s: mx.mamba1_selective_scan(28, d_inner=8192, state=16)
        + mx.softmax_attention(4, s, 32, 128, 128),
        mixer_tiny=lambda s: mx.mamba1_selective_scan(3, d_inner=256, state=16) + mx.softmax_attention(1, s, 8, 16, 16),
    )),
    # The Mamba-1 torch path is a per-token loop (one kernel per token per layer): 4096-token sequences keep
    # a full-size capture in seconds; the model card's context is 256k.
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=52e9, published_params_source="ai21labs/Jamba-v0.1 model card: 52B total, 12B active",
    supports_reduced=True, tags=("hybrid", "mamba1"),
))

# --- Bamba 9B: ibm-ai-platform/Bamba-9B config.json (32 layers, attention at 9, 18, 27) ---
BAMBA_9B = HFSpec(
    config="BambaConfig", model="BambaForCausalLM", vocab=128256,
    kinds=tuple("attention" if i in (9, 18, 27) else "mamba" for i in range(32)),
    kwargs=dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8, attn_layer_indices=[9, 18, 27], mamba_n_heads=128,
                mamba_d_head=64, mamba_n_groups=1, mamba_d_state=128, mamba_d_conv=4, mamba_expand=2,
                mamba_chunk_size=256, max_position_embeddings=4096, tie_word_embeddings=False),
    reduced=dict(num_hidden_layers=2, attn_layer_indices=[1]),
)
_TINY_BAMBA = HFSpec(
    config="BambaConfig", model="BambaForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, attn_layer_indices=[1], mamba_n_heads=8, mamba_d_head=32, mamba_d_state=16,
                mamba_chunk_size=8, **_NO_IDS),
)
register_workload(Workload(
    name="bamba-9b", domain=Domain.LLM, library="transformers",
    description="Bamba 9B hybrid: 32 layers (29 Mamba-2 of 128 heads x 64, state 128; 3 GQA attention 32/8), "
                "every layer with a SwiGLU MLP 14336, d=4096",
    source="IBM/Princeton/CMU/UIUC 'Bamba' (2025, huggingface.co/blog/bamba); ibm-ai-platform/Bamba-9B config.json",
    build_fn=hf_builder(Recipe(
        full=BAMBA_9B, tiny=_TINY_BAMBA,
        mixer_full=lambda s: mx.mamba2_ssd(29, s, heads=128, head_dim=64, state=128, groups=1, chunk=256)
        + mx.softmax_attention(3, s, 32, 128, 128),
        mixer_tiny=lambda s: mx.mamba2_ssd(1, s, heads=8, head_dim=32, state=16, groups=1, chunk=8)
        + mx.softmax_attention(1, s, 8, 16, 16),
    )),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=9.78e9, published_params_source="ibm-ai-platform/Bamba-9B model card: 9.78B parameters",
    supports_reduced=True, tags=("hybrid", "mamba2"),
))

# --- Mamba-2 2.7B: state-spaces/mamba2-2.7b config.json (64 layers, d=2560, state 128, head_dim 64) ---
MAMBA2_2_7B = HFSpec(
    config="Mamba2Config", model="Mamba2ForCausalLM", vocab=50288, attn=None, module_list="backbone.layers",
    kinds=("mamba",) * 64,
    kwargs=dict(vocab_size=50288, hidden_size=2560, num_hidden_layers=64, num_heads=80, head_dim=64, state_size=128,
                n_groups=1, expand=2, conv_kernel=4, chunk_size=256, tie_word_embeddings=True),
    reduced=dict(num_hidden_layers=1),
)
_TINY_MAMBA2 = HFSpec(
    config="Mamba2Config", model="Mamba2ForCausalLM", vocab=512, attn=None, module_list="backbone.layers",
    kwargs=dict(vocab_size=512, hidden_size=128, num_hidden_layers=2, num_heads=8, head_dim=32, state_size=16,
                n_groups=1, chunk_size=8, tie_word_embeddings=True, **_NO_IDS),
)
register_workload(Workload(
    name="mamba2-2.7b", domain=Domain.LLM, library="transformers",
    description="Mamba-2 2.7B, attention-free: 64 Mamba-2 layers (80 heads x 64, state 128, 1 group), d=2560, "
                "tied embeddings",
    source="Dao & Gu 2024 'Transformers are SSMs' (arXiv 2405.21060) sec. 9; state-spaces/mamba2-2.7b config.json",
    build_fn=hf_builder(Recipe(
        full=MAMBA2_2_7B, tiny=_TINY_MAMBA2,
        mixer_full=lambda s: mx.mamba2_ssd(64, s, heads=80, head_dim=64, state=128, groups=1, chunk=256),
        mixer_tiny=lambda s: mx.mamba2_ssd(2, s, heads=8, head_dim=32, state=16, groups=1, chunk=8),
    )),
    # the Mamba-2 paper's language-model runs: 2048-token sequences (arXiv 2405.21060 sec. 9.2)
    canonical={"full": Size(batch=8, seq=2048), "tiny": _TINY_SIZE},
    published_params=2.7e9, published_params_source="state-spaces/mamba2-2.7b model card: 2.7B parameters",
    supports_reduced=True, tags=("ssm", "mamba2"),
))
