"""2025 decoders: DeepSeek Sparse Attention MoE (DeepSeek-V3.2-Exp, GLM-5), GLM-4.5-Air MoE, and dense
SmolLM3-3B, OLMo 3 7B, Gemma 3 1B. transformers configs, random init, no download.

DSA as transformers runs it (``DeepseekV32``/``GlmMoeDsa`` attention): the lightning indexer scores every key,
``topk`` picks ``index_topk`` of them, and MLA runs as a dense S x S product under a mask that keeps the picked
keys. So the captured attention FLOPs are the dense ones; model FLOPs count attention at min(S, top_k) keys
(``_mixers.dsa``), and these workloads are tagged ``sliding-window`` like the other masked-sparse models.
The indexer learns from its own KL loss against the main attention (DeepSeek-V3.2-Exp report sec. 2.1), which
transformers does not implement, and top-k passes no gradient: the captured step runs the indexer forward
only, while model FLOPs count its backward too (production trains it).
"""

from __future__ import annotations

from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._hf import HFSpec, Recipe, hf_builder

_NO_IDS: dict[str, Any] = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
_TINY_SIZE = Size(batch=2, seq=32)
_IDX = "indexed_attention"


def _dsa_spec(config: str, model: str, *, vocab: int, layers: int, first_dense: int, extra: dict[str, Any],
              experts: tuple[int, int], per_layer_indexer: bool = False) -> HFSpec:
    mlp = ["dense"] * first_dense + ["sparse"] * (layers - first_dense)
    kw: dict[str, Any] = dict(vocab_size=vocab, num_hidden_layers=layers, first_k_dense_replace=first_dense,
                              mlp_layer_types=mlp, layer_types=[_IDX] * layers, output_router_logits=False,
                              tie_word_embeddings=False, **extra)
    red: dict[str, Any] = dict(num_hidden_layers=2, first_k_dense_replace=1, mlp_layer_types=["dense", "sparse"],
                               layer_types=[_IDX] * 2)
    if per_layer_indexer:
        kw["indexer_types"] = ["full"] * layers
        red["indexer_types"] = ["full"] * 2
    return HFSpec(config=config, model=model, vocab=vocab, kwargs=kw, kinds=tuple(mlp), reduced=red,
                  experts=experts, grouped_mm=True)


_TINY_DSA: dict[str, Any] = dict(
    hidden_size=128, intermediate_size=256, moe_intermediate_size=32, num_attention_heads=4, num_key_value_heads=4,
    n_routed_experts=8, num_experts_per_tok=2, kv_lora_rank=64, q_lora_rank=96, qk_rope_head_dim=16,
    qk_nope_head_dim=32, v_head_dim=32, index_topk=8, index_head_dim=32, index_n_heads=4, **_NO_IDS)

# DeepSeek-V3.2-Exp: deepseek-ai/DeepSeek-V3.2-Exp config.json = DeepSeek-V3 plus the indexer (64 heads x 128,
# top-2048); DeepseekV32Config defaults, spelled out. The MTP module is not built.
DSV32 = _dsa_spec("DeepseekV32Config", "DeepseekV32ForCausalLM", vocab=129280, layers=61, first_dense=3,
                  experts=(256, 8), extra=dict(
                      hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048, num_attention_heads=128,
                      num_key_value_heads=128, n_shared_experts=1, n_routed_experts=256, num_experts_per_tok=8,
                      n_group=8, topk_group=4, routed_scaling_factor=2.5, kv_lora_rank=512, q_lora_rank=1536,
                      qk_rope_head_dim=64, qk_nope_head_dim=128, v_head_dim=128, index_topk=2048,
                      index_head_dim=128, index_n_heads=64))
_TINY_DSV32 = _dsa_spec("DeepseekV32Config", "DeepseekV32ForCausalLM", vocab=512, layers=2, first_dense=1,
                        experts=(8, 2), extra=dict(_TINY_DSA, n_group=2, topk_group=1))
# GLM-5: GlmMoeDsaConfig defaults (zai-org/GLM-5 config.json): 78 layers, d=6144, MLA with 64 heads of
# qk 192+64 / v 256, indexer 32 x 128 top-2048, 256 experts top-8 + 1 shared.
GLM5 = _dsa_spec("GlmMoeDsaConfig", "GlmMoeDsaForCausalLM", vocab=154880, layers=78, first_dense=3,
                 experts=(256, 8), per_layer_indexer=True, extra=dict(
                     hidden_size=6144, intermediate_size=12288, moe_intermediate_size=2048, num_attention_heads=64,
                     num_key_value_heads=64, n_shared_experts=1, n_routed_experts=256, num_experts_per_tok=8,
                     routed_scaling_factor=2.5, kv_lora_rank=512, q_lora_rank=2048, qk_rope_head_dim=64,
                     qk_nope_head_dim=192, v_head_dim=256, index_topk=2048, index_head_dim=128, index_n_heads=32))
_TINY_GLM5 = _dsa_spec("GlmMoeDsaConfig", "GlmMoeDsaForCausalLM", vocab=512, layers=2, first_dense=1,
                       experts=(8, 2), per_layer_indexer=True, extra=_TINY_DSA)

for _name, _full, _tiny, _mix, _params, _psrc, _desc, _src in [
    ("deepseek-v3.2-exp", DSV32, _TINY_DSV32,
     lambda s: mx.dsa(61, s, heads=128, d_qk=192, d_v=128, top_k=2048, index_heads=64, index_dim=128),
     671e9, "DeepSeek-V3.2-Exp model card: 671B main model (685B with the 14B MTP module, not built here)",
     "DeepSeek-V3.2-Exp: DeepSeek-V3 (61 layers, MLA 128 heads, 256 experts top-8 + 1 shared) with DeepSeek "
     "Sparse Attention: a lightning indexer (64 heads x 128, FP8 in production) picks 2048 keys per query",
     "DeepSeek-AI 2025 'DeepSeek-V3.2-Exp' technical report; deepseek-ai/DeepSeek-V3.2-Exp config.json"),
    ("glm-5", GLM5, _TINY_GLM5,
     lambda s: mx.dsa(78, s, heads=64, d_qk=256, d_v=256, top_k=2048, index_heads=32, index_dim=128),
     744e9, "zai-org/GLM-5 model card: 744B total, 40B active",
     "GLM-5: 78 layers (3 dense), d=6144, MLA (q_lora 2048, kv_lora 512, 64 heads, qk 192+64, v 256) with DSA "
     "(indexer 32 x 128, top-2048), 256 experts (2048) top-8 + 1 shared",
     "Z.ai 2026 'GLM-5'; zai-org/GLM-5 config.json (transformers GlmMoeDsaConfig defaults)"),
]:
    register_workload(Workload(
        name=_name, domain=Domain.MOE, library="transformers", description=_desc, source=_src,
        build_fn=hf_builder(Recipe(
            full=_full, tiny=_tiny, mixer_full=_mix,
            mixer_tiny=lambda s: mx.dsa(2, s, heads=4, d_qk=48, d_v=32, top_k=8, index_heads=4, index_dim=32))),
        canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
        published_params=_params, published_params_source=_psrc,
        supports_reduced=True, tags=("sliding-window", "dsa", "mla"),
    ))

# --- GLM-4.5-Air: zai-org/GLM-4.5-Air config.json (46 layers, 1 dense, 128 experts top-8 + 1 shared) ---
GLM45_AIR = HFSpec(
    config="Glm4MoeConfig", model="Glm4MoeForCausalLM", vocab=151552, kinds=("dense",) + ("moe",) * 45,
    kwargs=dict(vocab_size=151552, hidden_size=4096, intermediate_size=10944, num_hidden_layers=46,
                num_attention_heads=96, num_key_value_heads=8, head_dim=128, moe_intermediate_size=1408,
                n_routed_experts=128, n_shared_experts=1, num_experts_per_tok=8, first_k_dense_replace=1,
                norm_topk_prob=True, output_router_logits=False, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "partial_rotary_factor": 0.5}),
    reduced=dict(num_hidden_layers=2), experts=(128, 8), grouped_mm=True,
)
_TINY_GLM45 = HFSpec(
    config="Glm4MoeConfig", model="Glm4MoeForCausalLM", vocab=512, experts=(8, 2), grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, moe_intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=8, num_key_value_heads=2, head_dim=16, n_routed_experts=8, num_experts_per_tok=2,
                first_k_dense_replace=1, output_router_logits=False, **_NO_IDS),
)
register_workload(Workload(
    name="glm-4.5-air", domain=Domain.MOE, library="transformers",
    description="GLM-4.5-Air: 46 layers (1 dense), d=4096, GQA 96/8 of 128, 128 experts (1408) top-8 + 1 shared",
    source="Zhipu/Z.ai 2025 'GLM-4.5' (arXiv 2508.06471) Table 1; zai-org/GLM-4.5-Air config.json",
    build_fn=hf_builder(Recipe(
        full=GLM45_AIR, tiny=_TINY_GLM45,
        mixer_full=lambda s: mx.softmax_attention(46, s, 96, 128, 128),
        mixer_tiny=lambda s: mx.softmax_attention(2, s, 8, 16, 16))),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    # the multi-token-prediction layer (num_nextn_predict_layers=1) is not built; 106.85B built
    published_params=106e9,
    published_params_source="GLM-4.5 (arXiv 2508.06471) Table 1: GLM-4.5-Air 106B total, 12B activated",
    supports_reduced=True,
))


# --- Dense 2025 decoders ---
def _dense_flops(layers: int, hidden: int, heads: int, kv: int, hd: int, ffn: int, vocab: int, seq: int,
                 window: int | None = None) -> float:
    """6·N_matmul + 6·L·S·H·(d_qk + d_v) per token (docs/glossary.md), LM head included."""
    n = layers * (hidden * hd * (2 * heads + 2 * kv) + 3 * hidden * ffn) + vocab * hidden
    return 6.0 * n + mx.softmax_attention(layers, seq, heads, hd, hd, window)


SMOLLM3 = HFSpec(
    config="SmolLM3Config", model="SmolLM3ForCausalLM", vocab=128256, kinds=("layer",) * 36,
    kwargs=dict(vocab_size=128256, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                num_attention_heads=16, num_key_value_heads=4, no_rope_layer_interval=4, tie_word_embeddings=True,
                max_position_embeddings=65536, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0}),
    reduced=dict(num_hidden_layers=1),
)
_TINY_SMOL = HFSpec(
    config="SmolLM3Config", model="SmolLM3ForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=8,
                num_key_value_heads=2, tie_word_embeddings=True, **_NO_IDS),
)
register_workload(Workload(
    name="smollm3-3b", domain=Domain.LLM, library="transformers",
    description="SmolLM3 3B: 36 layers, d=2048, GQA 16/4 of 128, NoPE on every 4th layer, tied embeddings",
    source="Hugging Face 2025 'SmolLM3' (huggingface.co/blog/smollm3); HuggingFaceTB/SmolLM3-3B config.json",
    build_fn=hf_builder(Recipe(
        full=SMOLLM3, tiny=_TINY_SMOL, mixer_full=lambda s: mx.softmax_attention(36, s, 16, 128, 128),
        mixer_tiny=lambda s: mx.softmax_attention(4, s, 8, 16, 16))),
    # SmolLM3 pre-training: 4096-token sequences (blog, "training configuration")
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=3.08e9, published_params_source="HuggingFaceTB/SmolLM3-3B model card: 3.08B parameters",
    train_flops_per_unit=_dense_flops(36, 2048, 16, 4, 128, 11008, 128256, 4096),
    train_flops_source="6·N_matmul + 6·L·S·H·(d_qk+d_v) at S=4096, no causal halving (docs/glossary.md)",
    supports_reduced=True,
))

_OLMO_TYPES = ["full_attention" if i % 4 == 3 else "sliding_attention" for i in range(32)]
OLMO3_7B = HFSpec(
    config="Olmo3Config", model="Olmo3ForCausalLM", vocab=100278, kinds=tuple(_OLMO_TYPES),
    kwargs=dict(vocab_size=100278, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32, sliding_window=4096, layer_types=_OLMO_TYPES,
                max_position_embeddings=65536, tie_word_embeddings=False, pad_token_id=None, eos_token_id=None),
    reduced=dict(num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"]),
)
_TINY_OLMO = HFSpec(
    config="Olmo3Config", model="Olmo3ForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=8,
                num_key_value_heads=8, sliding_window=8, **_NO_IDS),
)
register_workload(Workload(
    name="olmo3-7b", domain=Domain.LLM, library="transformers",
    description="OLMo 3 7B: 32 layers, d=4096, MHA 32 heads, SwiGLU 11008, 3 sliding-window (4096) : 1 full "
                "attention, QK-norm",
    source="AllenAI 2025 'OLMo 3' (allenai.org/olmo); allenai/Olmo-3-1025-7B config.json",
    build_fn=hf_builder(Recipe(
        full=OLMO3_7B, tiny=_TINY_OLMO, mixer_full=lambda s: mx.softmax_attention(32, s, 32, 128, 128, 4096),
        mixer_tiny=lambda s: mx.softmax_attention(4, s, 8, 16, 16, 8))),
    # pre-training at 8192 tokens with a 4096 window: windowed layers are masked dense products in
    # transformers (executed > model FLOPs), hence the sliding-window tag
    canonical={"full": Size(batch=1, seq=8192), "tiny": _TINY_SIZE},
    published_params=7.3e9, published_params_source="allenai/Olmo-3-1025-7B model card: 7.3B parameters",
    supports_reduced=True, tags=("sliding-window",),
))

_GEMMA_TYPES = ["full_attention" if i % 6 == 5 else "sliding_attention" for i in range(26)]
GEMMA3_1B = HFSpec(
    config="Gemma3TextConfig", model="Gemma3ForCausalLM", vocab=262144, kinds=tuple(_GEMMA_TYPES),
    kwargs=dict(vocab_size=262144, hidden_size=1152, intermediate_size=6912, num_hidden_layers=26,
                num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512,
                layer_types=_GEMMA_TYPES, query_pre_attn_scalar=256, max_position_embeddings=32768,
                tie_word_embeddings=True),
    reduced=dict(num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"]),
)
_TINY_GEMMA = HFSpec(
    config="Gemma3TextConfig", model="Gemma3ForCausalLM", vocab=512,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=1, head_dim=32, sliding_window=8,
                layer_types=["sliding_attention", "full_attention"], **_NO_IDS),
)
register_workload(Workload(
    name="gemma3-1b", domain=Domain.LLM, library="transformers",
    description="Gemma 3 1B (text only): 26 layers, 5 local (window 512) : 1 global attention, d=1152, MQA 4/1 of "
                "256, GeGLU 6912, 262k vocabulary tied",
    source="Gemma Team 2025 'Gemma 3' (arXiv 2503.19786) Tables 1-2; google/gemma-3-1b-pt config.json",
    build_fn=hf_builder(Recipe(
        full=GEMMA3_1B, tiny=_TINY_GEMMA,
        mixer_full=lambda s: mx.softmax_attention(22, s, 4, 256, 256, 512) + mx.softmax_attention(4, s, 4, 256, 256),
        mixer_tiny=lambda s: mx.softmax_attention(1, s, 4, 32, 32, 8) + mx.softmax_attention(1, s, 4, 32, 32))),
    # Gemma 3 pre-trains at 32k tokens (arXiv 2503.19786 sec. 2.1)
    canonical={"full": Size(batch=1, seq=32768), "tiny": _TINY_SIZE},
    published_params=1.0e9,
    published_params_source="Gemma 3 (arXiv 2503.19786) Table 1: 1B = 302M embedding + 698M non-embedding",
    supports_reduced=True, tags=("sliding-window",),
))
