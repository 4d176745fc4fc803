"""2025 hybrid Mamba-2/attention decoders: Falcon-H1 7B (attention and Mamba-2 in parallel in every layer),
Zamba2 7B (a Mamba-2 backbone with two shared attention blocks) and Granite 4.0 H Small (Mamba-2 and
attention layers 9:1, MoE on every layer). transformers configs, random init, no download.

Their Mamba-2 mixers run transformers' torch SSD fallback (``torch_chunk_scan_combined``), as in ``hybrid.py``:
every op is an aten op with a formula and no patch is needed (capture/patches.py covers Jamba's Mamba-1 loop).
Config values were read from the published config.json files as quoted by the public sources cited in each
``source`` (no config could be downloaded here); fields not quoted there keep the transformers 5.24 defaults.
"""

from __future__ import annotations

from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._hf import HFSpec, Recipe, hf_builder

_NO_IDS: dict[str, Any] = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
_TINY_SIZE = Size(batch=2, seq=32)


def _ssd_attn(seq: int, *, mamba: int, heads: int, head_dim: int, state: int, groups: int, chunk: int, attn: int,
              q_heads: int, d_head: int) -> float:
    return (mx.mamba2_ssd(mamba, seq, heads=heads, head_dim=head_dim, state=state, groups=groups, chunk=chunk)
            + mx.softmax_attention(attn, seq, q_heads, d_head, d_head))


# --- Falcon-H1 7B: tiiuae/Falcon-H1-7B-Base config.json (44 parallel attention + Mamba-2 layers) ---
FALCON_H1_7B = HFSpec(
    config="FalconH1Config", model="FalconH1ForCausalLM", vocab=130048, kinds=("hybrid",) * 44,
    kwargs=dict(vocab_size=130048, hidden_size=3072, num_hidden_layers=44, num_attention_heads=12,
                num_key_value_heads=2, head_dim=128, intermediate_size=12288, mamba_d_ssm=3072, mamba_n_heads=24,
                mamba_d_head=128, mamba_d_state=256, mamba_n_groups=1, mamba_d_conv=4, mamba_expand=2,
                mamba_chunk_size=128, max_position_embeddings=262144, tie_word_embeddings=False),
    reduced=dict(num_hidden_layers=1),
)
_TINY_FALCON = HFSpec(
    config="FalconH1Config", model="FalconH1ForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                head_dim=16, intermediate_size=256, mamba_d_ssm=128, mamba_n_heads=8, mamba_d_head=16,
                mamba_d_state=16, mamba_n_groups=1, mamba_chunk_size=8, **_NO_IDS),
)
register_workload(Workload(
    name="falcon-h1-7b", domain=Domain.LLM, library="transformers",
    description="Falcon-H1 7B parallel hybrid: 44 layers, each with GQA attention 12/2 (head 128) and a Mamba-2 "
                "mixer (24 heads x 128, state 256, 1 group) side by side, then a SwiGLU MLP 12288, d=3072",
    source="TII 'Falcon-H1' (arXiv 2507.22448); tiiuae/Falcon-H1-7B-Base config.json as quoted in public code "
           "(two independent copies agree), and the transformers model_doc/falcon_h1 size table",
    build_fn=hf_builder(Recipe(
        full=FALCON_H1_7B, tiny=_TINY_FALCON,
        mixer_full=lambda s: _ssd_attn(s, mamba=44, heads=24, head_dim=128, state=256, groups=1, chunk=128,
                                       attn=44, q_heads=12, d_head=128),
        mixer_tiny=lambda s: _ssd_attn(s, mamba=2, heads=8, head_dim=16, state=16, groups=1, chunk=8, attn=2,
                                       q_heads=8, d_head=16),
    )),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=7.586e9,
    published_params_source="Falcon-H1-7B-Base: 7.586B parameters (RWKV-Evals Uncheatable Eval table, 'Params (B)' "
                            "of the released checkpoint; the paper's '7B')",
    supports_reduced=True, tags=("hybrid", "mamba2"),
))

# --- Zamba2 7B: Zyphra/Zamba2-7B config.json (81 Mamba-2 layers; 13 also run a shared attention block) ---
_ZAMBA_HYBRID = (6, 11, 17, 23, 29, 35, 41, 47, 53, 59, 65, 71, 77)
_ZAMBA_TYPES = ["hybrid" if i in _ZAMBA_HYBRID else "mamba" for i in range(81)]
# transformers ties hybrid layer k's shared block to block k % 2 and gives each block one LoRA adapter slot per
# hybrid layer, so hybrid layers differ in their parameter names: each is its own kind (13 hybrid + 1 Mamba
# layer captured) and the 67 other Mamba-only layers map onto the first.
_ZAMBA_KINDS = tuple("mamba" if t == "mamba" else f"hybrid{_ZAMBA_HYBRID.index(i)}" for i, t in enumerate(_ZAMBA_TYPES))
ZAMBA2_7B = HFSpec(
    config="Zamba2Config", model="Zamba2ForCausalLM", vocab=32000, kinds=_ZAMBA_KINDS,
    kwargs=dict(vocab_size=32000, hidden_size=3584, num_hidden_layers=81, layers_block_type=_ZAMBA_TYPES,
                num_attention_heads=32, num_key_value_heads=32, intermediate_size=14336, hidden_act="gelu",
                n_mamba_heads=112, mamba_d_state=64, mamba_ngroups=2, mamba_d_conv=4, mamba_expand=2,
                chunk_size=256, num_mem_blocks=2, use_shared_attention_adapter=False, adapter_rank=128,
                use_mem_rope=True, max_position_embeddings=4096, tie_word_embeddings=True),
    reduced=dict(num_hidden_layers=14, layers_block_type=["mamba"] + ["hybrid"] * 13),
)
_TINY_ZAMBA_TYPES = ["mamba", "hybrid", "mamba", "hybrid", "hybrid"]
_TINY_ZAMBA = HFSpec(
    config="Zamba2Config", model="Zamba2ForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=64, num_hidden_layers=5, layers_block_type=_TINY_ZAMBA_TYPES,
                num_attention_heads=4, num_key_value_heads=4, intermediate_size=128, n_mamba_heads=4,
                mamba_d_state=16, mamba_ngroups=2, chunk_size=8, num_mem_blocks=2, adapter_rank=8, use_mem_rope=True,
                **_NO_IDS),
)
# Model FLOPs count 6 x the nn.Linear weights of the meta-built module (_hf.py). transformers builds every hybrid
# layer its own copy of its shared block (tied afterwards), each holding all of that block's adapters (7 or 6),
# of which the layer runs one: 7·7 + 6·6 - 13 = 72 adapter copies (d x r + r x 2·ffn each) a token never uses.
_ZAMBA_UNUSED_ADAPTERS = 72 * (3584 * 128 + 128 * 2 * 14336)
_TINY_ZAMBA_UNUSED_ADAPTERS = (2 * 2 + 1 * 1 - 3) * (64 * 8 + 8 * 2 * 128)


register_workload(Workload(
    name="zamba2-7b", domain=Domain.LLM, library="transformers",
    description="Zamba2 7B hybrid: 81 Mamba-2 layers (112 heads x 64, state 64, 2 groups), d=3584; 13 of them "
                "first run one of 2 shared transformer blocks (MHA 32 heads x 224 over [hidden, embeddings], GELU "
                "MLP 14336 with a rank-128 LoRA per use), ABAB",
    source="Zyphra 'The Zamba2 Suite' (arXiv 2411.15242); Zyphra/Zamba2-7B(-Instruct) config.json as quoted "
           "in public code (hybrid_layer_ids, n_mamba_heads=112, mamba_ngroups=2, num_mem_blocks=2, "
           "attention_head_dim=224, ffn 14336, shared-attention LoRA off)",
    build_fn=hf_builder(Recipe(
        full=ZAMBA2_7B, tiny=_TINY_ZAMBA,
        # attention runs in the 2·d space of [hidden, embeddings]: heads of 2·d/H (Zamba2Config)
        mixer_full=lambda s: _ssd_attn(s, mamba=81, heads=112, head_dim=64, state=64, groups=2, chunk=256,
                                       attn=13, q_heads=32, d_head=224) - 6.0 * _ZAMBA_UNUSED_ADAPTERS,
        mixer_tiny=lambda s: _ssd_attn(s, mamba=5, heads=4, head_dim=32, state=16, groups=2, chunk=8, attn=3,
                                       q_heads=4, d_head=32) - 6.0 * _TINY_ZAMBA_UNUSED_ADAPTERS,
    )),
    # the config's 4096 positions (max_position_embeddings)
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=7.4e9,
    published_params_source="arXiv 2411.15242 abstract: 7.4B parameters (7.357B per the RWKV-Evals Uncheatable "
                            "Eval table, 'Params (B)')",
    supports_reduced=True, tags=("hybrid", "mamba2"),
))

# --- Granite 4.0 H Small: ibm-granite/granite-4.0-h-small (40 layers: 36 Mamba-2, 4 attention; MoE everywhere) ---
_GRANITE_ATTN = (5, 15, 25, 35)  # NB: the layer_types order of the H Tiny / H 1B configs; Small's 4/36 count
_GRANITE_TYPES = ["attention" if i in _GRANITE_ATTN else "mamba" for i in range(40)]
GRANITE_4_H_SMALL = HFSpec(
    config="GraniteMoeHybridConfig", model="GraniteMoeHybridForCausalLM", vocab=100352,
    kinds=tuple(_GRANITE_TYPES), experts=(72, 10), grouped_mm=True,
    kwargs=dict(vocab_size=100352, hidden_size=4096, num_hidden_layers=40, layer_types=_GRANITE_TYPES,
                num_attention_heads=32, num_key_value_heads=8, num_local_experts=72, num_experts_per_tok=10,
                intermediate_size=768, shared_intermediate_size=1536, mamba_n_heads=128, mamba_d_head=64,
                mamba_d_state=128, mamba_n_groups=1, mamba_d_conv=4, mamba_expand=2, mamba_chunk_size=256,
                max_position_embeddings=131072, tie_word_embeddings=True, output_router_logits=False),
    reduced=dict(num_hidden_layers=2, layer_types=["mamba", "attention"]),
)
_TINY_GRANITE = HFSpec(
    config="GraniteMoeHybridConfig", model="GraniteMoeHybridForCausalLM", vocab=512, experts=(4, 2),
    grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, num_hidden_layers=2, layer_types=["mamba", "attention"],
                num_attention_heads=8, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                intermediate_size=64, shared_intermediate_size=128, mamba_n_heads=8, mamba_d_head=32,
                mamba_d_state=16, mamba_chunk_size=8, tie_word_embeddings=True, **_NO_IDS),
)
register_workload(Workload(
    name="granite-4.0-h-small", domain=Domain.MOE, library="transformers",
    description="Granite 4.0 H Small hybrid MoE: 40 layers (36 Mamba-2 of 128 heads x 64, state 128; 4 GQA "
                "attention 32/8, NoPE), every layer with 72 experts of 768 (top-10) and a shared expert of 1536, "
                "d=4096, tied embeddings",
    source="ibm-granite/granite-4.0-h-small model card (architecture table) and config.json as quoted in public "
           "code (num_local_experts=72, num_experts_per_tok=10, shared_intermediate_size=1536, vocab 100352)",
    build_fn=hf_builder(Recipe(
        full=GRANITE_4_H_SMALL, tiny=_TINY_GRANITE,
        mixer_full=lambda s: _ssd_attn(s, mamba=36, heads=128, head_dim=64, state=128, groups=1, chunk=256,
                                       attn=4, q_heads=32, d_head=128),
        mixer_tiny=lambda s: _ssd_attn(s, mamba=1, heads=8, head_dim=32, state=16, groups=1, chunk=8, attn=1,
                                       q_heads=8, d_head=16),
    )),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=32e9,
    published_params_source="ibm-granite/granite-4.0-h-small model card: 32B parameters, 9B active",
    supports_reduced=True, tags=("hybrid", "mamba2", "moe"),
))
