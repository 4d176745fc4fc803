"""Mixture-of-experts decoders built with transformers from their published configs (random init, no download).

Experts run through transformers' ``grouped_mm`` path, the only one that traces on fake tensors in bf16
(``_common.experts_implementation`` says which path works where). Routing under fake tensors has unknown
values and static shapes: the grouped GEMMs always process tokens·top_k rows in total, so captured FLOPs
equal the balanced-routing FLOPs whatever the router picks; how rows split across experts is the cost
model's assumption (balanced). Real builds route round-robin (``balance_routing``) so that measured steps
match that assumption, like Megatron-Bridge's force-balanced benchmark runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo._common import (
    adamw,
    attention_train_flops_per_token,
    check_heads,
    experts_implementation,
    hf_loss,
    set_attention,
    token_batch,
)


@dataclass(frozen=True, kw_only=True)
class MoeArch:
    family: str
    """mixtral | qwen3_moe | gpt_oss | deepseek_v3 (picks the transformers config and model classes)."""
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    experts: int
    top_k: int
    expert_ffn: int
    rope_theta: float = 1_000_000.0
    sliding_window: int | None = None
    """gpt-oss: every other layer (starting with the first) attends to this many previous tokens."""
    # DeepSeek-V3 only: dense layers first, shared experts, node-limited routing, MLA dims.
    dense_ffn: int = 0
    first_dense: int = 0
    shared_experts: int = 0
    n_group: int = 1
    topk_group: int = 1
    q_lora: int = 0
    kv_lora: int = 0
    qk_rope: int = 0
    qk_nope: int = 0
    v_head: int = 0

    @property
    def mla(self) -> bool:
        return self.kv_lora > 0

    @property
    def d_qk(self) -> int:
        return self.qk_nope + self.qk_rope if self.mla else self.head_dim

    @property
    def d_v(self) -> int:
        return self.v_head if self.mla else self.head_dim

    def validate(self) -> None:
        check_heads(self.family, self.hidden, self.heads, self.kv_heads, self.head_dim)
        if not 1 <= self.top_k <= self.experts:
            raise ValueError(f"{self.family}: top_k={self.top_k} must be in [1, experts={self.experts}]")
        if self.experts % self.n_group or self.topk_group > self.n_group:
            raise ValueError(f"{self.family}: n_group={self.n_group} must divide experts={self.experts} and be "
                             f">= topk_group={self.topk_group}")

    def attn_matmul_params(self) -> int:
        if not self.mla:
            return self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)
        q = self.hidden * self.q_lora + self.q_lora * self.heads * self.d_qk
        kv = self.hidden * (self.kv_lora + self.qk_rope) + self.kv_lora * self.heads * (self.qk_nope + self.v_head)
        return q + kv + self.heads * self.v_head * self.hidden

    def active_matmul_params(self) -> int:
        """Matmul parameters each token uses: attention, router, top-k + shared experts (dense FFN in the
        first layers), LM head. Input embedding excluded (docs/glossary.md)."""
        moe_layers = self.layers - self.first_dense
        expert = 3 * self.hidden * self.expert_ffn
        moe = self.hidden * self.experts + (self.top_k + self.shared_experts) * expert
        dense = 3 * self.hidden * self.dense_ffn
        return (self.layers * self.attn_matmul_params() + moe_layers * moe + self.first_dense * dense
                + self.vocab * self.hidden)

    def routed_expert_params(self) -> int:
        """All routed-expert weights (the part of the model a token mostly does not touch)."""
        return (self.layers - self.first_dense) * self.experts * 3 * self.hidden * self.expert_ffn

    def layer_types(self, layers: int) -> list[str]:
        if self.sliding_window is None:
            return ["full_attention"] * layers
        return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]

    def attention_flops_per_token(self, seq: int) -> float:
        """Model attention FLOPs per token; windowed layers attend to min(S, window) keys."""
        total = 0.0
        for t in self.layer_types(self.layers):
            kv = seq if t == "full_attention" or self.sliding_window is None else min(seq, self.sliding_window)
            total += attention_train_flops_per_token(1, kv, self.heads, self.d_qk, self.d_v)
        return total

    def flops_per_token(self, seq: int) -> float:
        return 6.0 * self.active_matmul_params() + self.attention_flops_per_token(seq)

    def executed_flops_per_token(self, seq: int) -> float:
        """What a dense masked attention kernel executes: windowed layers at S keys too."""
        return 6.0 * self.active_matmul_params() + attention_train_flops_per_token(
            self.layers, seq, self.heads, self.d_qk, self.d_v)


def _config(a: MoeArch, layers: int, seq: int) -> Any:
    import transformers as tf

    rope = {"rope_type": "default", "rope_theta": a.rope_theta}
    common: dict[str, Any] = dict(
        vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=layers, num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads, num_experts_per_tok=a.top_k, tie_word_embeddings=False,
        max_position_embeddings=max(seq, 4096), rope_parameters=rope,
        # No load-balancing auxiliary loss: transformers computes it once at the top over every layer's
        # concatenated router logits, which a capture of one layer replicated cannot reproduce; it costs
        # < 0.01% of the step's FLOPs (gpt-oss-20b: ~1e8 of 2.6e14). DeepSeek-V3 trains without one anyway.
        output_router_logits=False,
    )
    cfg: Any
    if a.family == "mixtral":
        cfg = tf.MixtralConfig(**common, head_dim=a.head_dim, intermediate_size=a.expert_ffn,
                               num_local_experts=a.experts)
    elif a.family == "qwen3_moe":
        common["head_dim"] = a.head_dim  # accepted through **kwargs (not in the typed signature)
        cfg = tf.Qwen3MoeConfig(**common, moe_intermediate_size=a.expert_ffn,
                                intermediate_size=a.expert_ffn, num_experts=a.experts, norm_topk_prob=True)
    elif a.family == "gpt_oss":
        # gpt-oss attention has learned sinks: transformers runs it eagerly (no SDPA kernel takes sinks).
        cfg = tf.GptOssConfig(**common, head_dim=a.head_dim, intermediate_size=a.expert_ffn,
                              num_local_experts=a.experts, sliding_window=a.sliding_window,
                              layer_types=a.layer_types(layers))
        return set_attention(cfg, "eager")
    elif a.family == "deepseek_v3":
        cfg = tf.DeepseekV3Config(
            **common, intermediate_size=a.dense_ffn, moe_intermediate_size=a.expert_ffn,
            n_routed_experts=a.experts, n_shared_experts=a.shared_experts,
            first_k_dense_replace=min(a.first_dense, 1) if layers < a.layers else a.first_dense,
            n_group=a.n_group, topk_group=a.topk_group, q_lora_rank=a.q_lora, kv_lora_rank=a.kv_lora,
            qk_rope_head_dim=a.qk_rope, qk_nope_head_dim=a.qk_nope, v_head_dim=a.v_head,
        )
    else:
        raise ValueError(f"unknown MoE family {a.family!r}")
    return set_attention(cfg)


def _model(cfg: Any) -> Any:
    import torch
    import transformers as tf

    cls = {"mixtral": tf.MixtralForCausalLM, "qwen3_moe": tf.Qwen3MoeForCausalLM,
           "gpt_oss": tf.GptOssForCausalLM, "deepseek_v3": tf.DeepseekV3ForCausalLM}[cfg.model_type]
    cfg._experts_implementation = experts_implementation()
    model = cls(cfg)
    if torch.empty(0).device.type != "meta":
        balance_routing(model)
    return model


def balance_routing(model: Any) -> int:
    """Force-balanced routing for real steps: each router's expert choice becomes round-robin (token t,
    slot j -> expert (t·k + j) mod E), so every expert gets tokens·k/E rows, as in Megatron-Bridge's
    force-balanced MoE benchmarks (shared/data/published/README.md). Router scores (and so the router's
    gradient and the auxiliary loss) are kept. Fake-tensor captures skip it: there the grouped GEMMs see
    tokens·k rows whatever the values. Returns the number of routers changed."""
    import torch

    def hook(module: Any, args: Any, out: Any) -> Any:
        logits, scores, idx = out
        t, k = idx.shape
        balanced = torch.arange(t * k, device=idx.device).view(t, k) % module.num_experts
        return logits, scores, balanced.to(idx.dtype)

    routers = [m for m in model.modules() if type(m).__name__.lower().endswith("topkrouter")]
    for m in routers:
        m.register_forward_hook(hook)
    return len(routers)


def reduced_map(a: MoeArch) -> tuple[int, tuple[int, ...]]:
    """Captured layers of a reduced build and each full layer's captured index: one layer per distinct
    kind (DeepSeek: dense, MoE; gpt-oss: sliding, full)."""
    if a.first_dense:
        return 2, tuple(0 if i < a.first_dense else 1 for i in range(a.layers))
    if a.sliding_window is not None:
        return 2, tuple(i % 2 for i in range(a.layers))
    return 1, (0,) * a.layers


def moe_builder(full: MoeArch, tiny: MoeArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.seq is not None
        a.validate()
        n_cap, mapping = reduced_map(a)
        cfg = _config(a, n_cap if reduced else a.layers, size.seq)
        tokens = size.batch * size.seq
        return Built(
            make_model=lambda: _model(cfg),
            make_batch=lambda: token_batch(size.batch, size.seq, a.vocab),  # type: ignore[arg-type]
            loss=hf_loss, make_optimizer=adamw,
            batch=size.batch, seq=size.seq, samples_per_step=size.batch, tokens_per_step=tokens,
            model_flops=tokens * a.flops_per_token(size.seq),
            repeats=(Repeat(module_list="model.layers", full_to_captured=mapping),) if reduced else (),
            n_params_active=active_params(a),
        )

    return build


def active_params(a: MoeArch) -> int:
    """Parameters one token touches: active matmul weights plus its input-embedding row's table (counted
    whole, as model cards do)."""
    return a.active_matmul_params() + a.vocab * a.hidden


MIXTRAL_8X7B = MoeArch(family="mixtral", vocab=32000, hidden=4096, layers=32, heads=32, kv_heads=8, head_dim=128,
                       experts=8, top_k=2, expert_ffn=14336)
QWEN3_30B_A3B = MoeArch(family="qwen3_moe", vocab=151936, hidden=2048, layers=48, heads=32, kv_heads=4,
                        head_dim=128, experts=128, top_k=8, expert_ffn=768)
GPT_OSS_20B = MoeArch(family="gpt_oss", vocab=201088, hidden=2880, layers=24, heads=64, kv_heads=8, head_dim=64,
                      experts=32, top_k=4, expert_ffn=2880, rope_theta=150000.0, sliding_window=128)
DEEPSEEK_V3 = MoeArch(family="deepseek_v3", vocab=129280, hidden=7168, layers=61, heads=128, kv_heads=128,
                      head_dim=64, experts=256, top_k=8, expert_ffn=2048, rope_theta=10000.0, dense_ffn=18432,
                      first_dense=3, shared_experts=1, n_group=8, topk_group=4, q_lora=1536, kv_lora=512,
                      qk_rope=64, qk_nope=128, v_head=128)

# Tiny flavors: same family, GQA ratio, experts/top-k ratio, head dims multiples of 16.
_TINY = {
    "mixtral": MoeArch(family="mixtral", vocab=512, hidden=128, layers=2, heads=8, kv_heads=2, head_dim=16,
                       experts=8, top_k=2, expert_ffn=64),
    "qwen3_moe": MoeArch(family="qwen3_moe", vocab=512, hidden=128, layers=2, heads=8, kv_heads=1, head_dim=16,
                         experts=16, top_k=4, expert_ffn=32),
    "gpt_oss": MoeArch(family="gpt_oss", vocab=512, hidden=128, layers=2, heads=8, kv_heads=1, head_dim=16,
                       experts=8, top_k=4, expert_ffn=64, rope_theta=150000.0, sliding_window=8),
    "deepseek_v3": MoeArch(family="deepseek_v3", vocab=512, hidden=128, layers=2, heads=4, kv_heads=4, head_dim=16,
                           experts=8, top_k=2, expert_ffn=32, rope_theta=10000.0, dense_ffn=256, first_dense=1,
                           shared_experts=1, n_group=2, topk_group=1, q_lora=96, kv_lora=64, qk_rope=16,
                           qk_nope=32, v_head=32),
}

_SRC = "6·N_active + attention per token, no causal halving (docs/glossary.md); N_active from the config"

for _name, _arch, _seq, _params, _psrc, _desc, _src in [
    ("mixtral-8x7b", MIXTRAL_8X7B, 4096, 46.7e9,
     "Mistral AI, 'Mixtral of experts' (2023-12): 46.7B total, 12.9B active per token",
     "Mixtral 8x7B: 32 layers, d=4096, GQA 32/8, 8 experts of SwiGLU 14336, top-2",
     "Jiang et al. 2024 (arXiv 2401.04088); mistralai/Mixtral-8x7B-v0.1 config.json"),
    ("qwen3-30b-a3b", QWEN3_30B_A3B, 4096, 30.5e9,
     "Qwen/Qwen3-30B-A3B model card: 30.5B total, 3.3B activated",
     "Qwen3-30B-A3B: 48 layers, d=2048, GQA 32/4, head_dim 128, QK-norm, 128 fine-grained experts (768), top-8",
     "Qwen3 technical report (arXiv 2505.09388) Table 2; Qwen/Qwen3-30B-A3B config.json"),
    ("gpt-oss-20b", GPT_OSS_20B, 8192, 20.91e9,
     "OpenAI gpt-oss model card (arXiv 2508.10925) Table 1: 20.91B total, 3.61B active",
     "gpt-oss-20b: 24 layers, d=2880, GQA 64/8 of 64, attention sinks, sliding window 128 on every other "
     "layer, 32 experts top-4. Model FLOPs count windowed layers at 128 keys; transformers runs them as a "
     f"masked dense S x S attention: {GPT_OSS_20B.executed_flops_per_token(8192) / 1e9:.1f} GF/token executed "
     "at S=8192",
     "OpenAI gpt-oss model card (arXiv 2508.10925); openai/gpt-oss-20b config.json"),
    ("deepseek-v3-671b", DEEPSEEK_V3, 4096, 671.0e9,
     "DeepSeek-V3 technical report (arXiv 2412.19437): 671B total, 37B activated (the 14B MTP module excluded)",
     "DeepSeek-V3: 61 layers (3 dense + 58 MoE), d=7168, MLA (q_lora 1536, kv_lora 512, 128 heads, qk 128+64, "
     "v 128), 256 routed experts (2048) top-8 in 4 of 8 groups + 1 shared; no multi-token-prediction head",
     "DeepSeek-V3 technical report (arXiv 2412.19437); deepseek-ai/DeepSeek-V3 config.json"),
]:
    register_workload(Workload(
        name=_name, domain=Domain.MOE, library="transformers", description=_desc, source=_src,
        build_fn=moe_builder(_arch, _TINY[_arch.family]),
        canonical={"full": Size(batch=1, seq=_seq), "tiny": Size(batch=2, seq=32)},
        published_params=_params, published_params_source=_psrc,
        train_flops_per_unit=_arch.flops_per_token(_seq), train_flops_source=f"{_SRC} at S={_seq}",
        supports_reduced=True, tags=("sliding-window",) if _arch.sliding_window else (),
    ))
