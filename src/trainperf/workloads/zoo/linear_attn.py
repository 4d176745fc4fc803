"""Linear-attention hybrid MoE decoders: Qwen3-Next (gated DeltaNet), Kimi Linear (Kimi Delta Attention + MLA),
MiniMax-Text-01 (lightning attention). transformers configs, random init, no download.

Without ``flash-linear-attention`` installed, transformers runs the chunked delta rule as its torch reference
(``torch_chunk_gated_delta_rule``: cumsum/exp/matmuls, a triangular solve for the UT transform, and a
Python loop over chunks) and MiniMax's lightning attention as its block-wise torch form; the captured ops are
all aten ops with formulas (``aten::linalg_solve_triangular`` in costs/formulas/linear_attention.py).
"""

from __future__ import annotations

from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._hf import HFSpec, Recipe, hf_builder

_NO_IDS: dict[str, Any] = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}
_TINY_SIZE = Size(batch=2, seq=32)
_LIN, _FULL = "linear_attention", "full_attention"

# --- Qwen3-Next-80B-A3B: Qwen/Qwen3-Next-80B-A3B-Instruct config.json = Qwen3NextConfig defaults, spelled out ---
_QN_TYPES = [_FULL if (i + 1) % 4 == 0 else _LIN for i in range(48)]
QWEN3_NEXT = HFSpec(
    config="Qwen3NextConfig", model="Qwen3NextForCausalLM", vocab=151936, kinds=tuple(_QN_TYPES),
    kwargs=dict(vocab_size=151936, hidden_size=2048, intermediate_size=5632, num_hidden_layers=48,
                num_attention_heads=16, num_key_value_heads=2, head_dim=256, linear_conv_kernel_dim=4,
                linear_key_head_dim=128, linear_value_head_dim=128, linear_num_key_heads=16,
                linear_num_value_heads=32, moe_intermediate_size=512, shared_expert_intermediate_size=512,
                num_experts=512, num_experts_per_tok=10, norm_topk_prob=True, layer_types=_QN_TYPES,
                output_router_logits=False, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25}),
    reduced=dict(num_hidden_layers=2, layer_types=[_LIN, _FULL]), experts=(512, 10), grouped_mm=True,
)
_TINY_QN = HFSpec(
    config="Qwen3NextConfig", model="Qwen3NextForCausalLM", vocab=512, experts=(16, 4), grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, head_dim=16, linear_key_head_dim=16, linear_value_head_dim=16,
                linear_num_key_heads=4, linear_num_value_heads=8, moe_intermediate_size=32,
                shared_expert_intermediate_size=32, num_experts=16, num_experts_per_tok=4, layer_types=[_LIN, _FULL],
                output_router_logits=False, **_NO_IDS),
)
register_workload(Workload(
    name="qwen3-next-80b-a3b", domain=Domain.MOE, library="transformers",
    description="Qwen3-Next 80B-A3B: 48 layers, 3 gated-DeltaNet (16 QK / 32 V heads of 128) : 1 gated GQA "
                "attention (16/2 of 256), 512 experts (512) top-10 + 1 shared, d=2048",
    source="Qwen team, 'Qwen3-Next' (2025-09, qwen.ai blog); Qwen/Qwen3-Next-80B-A3B-Instruct config.json",
    build_fn=hf_builder(Recipe(
        full=QWEN3_NEXT, tiny=_TINY_QN,
        # value heads carry the delta-rule state (32 x 128 x 128); keys are shared by pairs of value heads
        mixer_full=lambda s: mx.gated_delta_rule(36, heads=32, d_k=128, d_v=128)
        + mx.softmax_attention(12, s, 16, 256, 256),
        mixer_tiny=lambda s: mx.gated_delta_rule(1, heads=8, d_k=16, d_v=16) + mx.softmax_attention(1, s, 8, 16, 16),
    )),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    published_params=80e9, published_params_source="Qwen/Qwen3-Next-80B-A3B model card: 80B total, 3B activated",
    supports_reduced=True, tags=("linear-attention", "gated-deltanet"),
))

# --- Kimi Linear 48B-A3B: moonshotai/Kimi-Linear-48B-A3B-Instruct config.json = KimiLinearConfig defaults ---
_KL_TYPES = [_FULL if i % 4 == 3 else _LIN for i in range(27)]
_KL_MLP = ["dense"] + ["sparse"] * 26
KIMI_LINEAR = HFSpec(
    config="KimiLinearConfig", model="KimiLinearForCausalLM", vocab=163840,
    kinds=tuple(f"{a}-{m}" for a, m in zip(_KL_TYPES, _KL_MLP, strict=True)),
    kwargs=dict(vocab_size=163840, hidden_size=2304, intermediate_size=9216, moe_intermediate_size=1024,
                num_hidden_layers=27, num_attention_heads=32, num_key_value_heads=32, num_shared_experts=1,
                kv_lora_rank=512, q_lora_rank=None, qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128,
                num_experts=256, num_experts_per_token=8, linear_head_dim=128, linear_num_heads=32,
                linear_conv_kernel_dim=4, layer_types=_KL_TYPES, mlp_layer_types=_KL_MLP, tie_word_embeddings=False),
    # first-seen kinds: KDA + dense MLP (0), KDA + MoE (1), MLA + MoE (3)
    reduced=dict(num_hidden_layers=3, layer_types=[_LIN, _LIN, _FULL], mlp_layer_types=["dense", "sparse", "sparse"]),
    experts=(256, 8), grouped_mm=True,
)
_TINY_KL = HFSpec(
    config="KimiLinearConfig", model="KimiLinearForCausalLM", vocab=512, experts=(8, 2), grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=256, moe_intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=64, qk_rope_head_dim=16, v_head_dim=32,
                qk_nope_head_dim=32, num_experts=8, num_experts_per_token=2, linear_head_dim=16, linear_num_heads=4,
                mlp_layer_types=["dense", "sparse"], layer_types=[_LIN, _FULL], **_NO_IDS),
)
register_workload(Workload(
    name="kimi-linear-48b-a3b", domain=Domain.MOE, library="transformers",
    description="Kimi Linear 48B-A3B: 27 layers, 3 Kimi Delta Attention (32 heads of 128) : 1 MLA (NoPE, "
                "kv_lora 512, 32 heads, qk 128+64, v 128), 256 experts (1024) top-8 + 1 shared, d=2304",
    source="Kimi Team 2025 'Kimi Linear' (arXiv 2510.26692); moonshotai/Kimi-Linear-48B-A3B-Instruct config.json",
    build_fn=hf_builder(Recipe(
        full=KIMI_LINEAR, tiny=_TINY_KL,
        mixer_full=lambda s: mx.gated_delta_rule(_KL_TYPES.count(_LIN), heads=32, d_k=128, d_v=128)
        + mx.softmax_attention(_KL_TYPES.count(_FULL), s, 32, 192, 128),
        mixer_tiny=lambda s: mx.gated_delta_rule(1, heads=4, d_k=16, d_v=16) + mx.softmax_attention(1, s, 4, 48, 32),
    )),
    canonical={"full": Size(batch=1, seq=4096), "tiny": _TINY_SIZE},
    # The card's "48B" rounds down: the built model (embeddings untied, MTP absent) has 49.13B.
    published_params=48e9, params_tolerance=0.03,
    published_params_source="moonshotai/Kimi-Linear-48B-A3B model card: 48B total, 3B activated",
    supports_reduced=True, tags=("linear-attention", "kda", "mla"),
))

# --- MiniMax-Text-01: MiniMaxAI/MiniMax-Text-01-hf config.json (80 layers, softmax attention every 8th) ---
_MM_TYPES = [_FULL if i % 8 == 7 else _LIN for i in range(80)]
MINIMAX_01 = HFSpec(
    config="MiniMaxConfig", model="MiniMaxForCausalLM", vocab=200064, kinds=tuple(_MM_TYPES),
    kwargs=dict(vocab_size=200064, hidden_size=6144, intermediate_size=9216, num_hidden_layers=80,
                num_attention_heads=64, num_key_value_heads=8, head_dim=128, num_local_experts=32,
                num_experts_per_tok=2, layer_types=_MM_TYPES, block_size=256, max_position_embeddings=8192,
                rope_parameters={"rope_type": "default", "rope_theta": 10000000.0}, output_router_logits=False,
                tie_word_embeddings=False),
    reduced=dict(num_hidden_layers=2, layer_types=[_LIN, _FULL]), experts=(32, 2), grouped_mm=True,
)
_TINY_MM = HFSpec(
    config="MiniMaxConfig", model="MiniMaxForCausalLM", vocab=512, experts=(4, 2), grouped_mm=True,
    kwargs=dict(vocab_size=512, hidden_size=128, intermediate_size=64, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=2,
                layer_types=[_LIN, _FULL], block_size=8, output_router_logits=False, **_NO_IDS),
)
register_workload(Workload(
    name="minimax-text-01", domain=Domain.MOE, library="transformers",
    description="MiniMax-Text-01: 80 layers, 7 lightning-attention (64 heads of 128, blocks of 256) : 1 softmax "
                "GQA 64/8, 32 experts (9216) top-2, d=6144",
    source="MiniMax 2025 'MiniMax-01' (arXiv 2501.08313) Table 2; MiniMaxAI/MiniMax-Text-01-hf config.json",
    build_fn=hf_builder(Recipe(
        full=MINIMAX_01, tiny=_TINY_MM,
        mixer_full=lambda s: mx.lightning_attention(70, heads=64, d_k=128, d_v=128, block=256)
        + mx.softmax_attention(10, s, 64, 128, 128),
        mixer_tiny=lambda s: mx.lightning_attention(1, heads=8, d_k=16, d_v=16, block=8)
        + mx.softmax_attention(1, s, 8, 16, 16),
    )),
    # MiniMax-01 pre-training starts at 8192-token sequences (arXiv 2501.08313 sec. 4.2)
    canonical={"full": Size(batch=1, seq=8192), "tiny": _TINY_SIZE},
    published_params=456e9,
    published_params_source="MiniMax-01 (arXiv 2501.08313) abstract: 456B total, 45.9B activated per token",
    supports_reduced=True, tags=("linear-attention", "lightning"),
))
