"""Transformer architecture description for the analytic per-rank op tables (no torch).

Covers dense decoders (MHA / GQA, gated or plain MLP), MoE decoders (top-k routed experts, shared
experts, leading dense layers) and DeepSeek-style multi-head latent attention (low-rank q / kv). Built
from architecture columns (a published row) or by hand; zoo LLMs map onto it through ``from_hf_config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class TransformerArch:
    """One decoder-only transformer. Sizes are model-wide (unsharded)."""

    name: str
    n_layers: int
    hidden: int
    ffn_hidden: int
    """MLP width of dense layers (for MoE models: the dense layers' width, ``dense_ffn_hidden``)."""
    n_heads: int
    n_kv_heads: int
    vocab: int
    head_dim: int = 0
    """q/k head dim; 0 = hidden // n_heads."""
    v_head_dim: int = 0
    """v head dim; 0 = head_dim."""
    gated_mlp: bool = True
    """SwiGLU-style (3 matrices) when True, GELU / squared-ReLU (2 matrices) when False."""
    moe_experts: int = 0
    moe_topk: int = 0
    moe_ffn_hidden: int = 0
    shared_experts: int = 0
    """Always-active experts of width moe_ffn_hidden (DeepSeek-V3: 1)."""
    dense_layers: int = 0
    """Leading layers with a dense MLP in an MoE model (DeepSeek-V3: 3)."""
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    """Multi-head latent attention ranks (DeepSeek-V2/V3); 0 = ordinary q/k/v projections."""
    tied_embeddings: bool = False

    def __post_init__(self) -> None:
        for f in ("n_layers", "hidden", "n_heads", "n_kv_heads", "vocab"):
            if getattr(self, f) <= 0:
                raise ValueError(f"arch {self.name!r}: {f} = {getattr(self, f)} must be > 0")
        if self.ffn_hidden <= 0 and not self.is_moe:
            raise ValueError(f"arch {self.name!r}: ffn_hidden = {self.ffn_hidden} must be > 0 for a dense model")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"arch {self.name!r}: n_kv_heads = {self.n_kv_heads} must divide "
                             f"n_heads = {self.n_heads}")
        if self.is_moe and not (0 < self.moe_topk <= self.moe_experts and self.moe_ffn_hidden > 0):
            raise ValueError(f"arch {self.name!r}: MoE needs 0 < moe_topk ({self.moe_topk}) <= moe_experts "
                             f"({self.moe_experts}) and moe_ffn_hidden > 0 ({self.moe_ffn_hidden})")
        if self.dense_layers > self.n_layers:
            raise ValueError(f"arch {self.name!r}: dense_layers = {self.dense_layers} > n_layers = {self.n_layers}")

    @property
    def is_moe(self) -> bool:
        return self.moe_experts > 0

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.n_heads

    @property
    def hd_v(self) -> int:
        return self.v_head_dim or self.hd

    @property
    def moe_layers(self) -> int:
        return self.n_layers - self.dense_layers if self.is_moe else 0

    # ---- parameter counts (weights only; norms and biases are < 0.1% and left out) ----
    def attn_params(self) -> int:
        h, nq, nkv, d, dv = self.hidden, self.n_heads, self.n_kv_heads, self.hd, self.hd_v
        if self.kv_lora_rank:
            q = (h * self.q_lora_rank + self.q_lora_rank * nq * d) if self.q_lora_rank else h * nq * d
            # kv: down to (rank + rope part), up to per-head k_nope and v; rope part is 64 in DeepSeek-V3
            kv = h * (self.kv_lora_rank + 64) + self.kv_lora_rank * nq * (d - 64 + dv)
            return q + kv + nq * dv * h
        return h * (nq * d + 2 * nkv * d) + nq * dv * h

    def mlp_params(self, width: int) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * width

    def layer_params(self, moe: bool) -> int:
        if not moe:
            return self.attn_params() + self.mlp_params(self.ffn_hidden)
        experts = (self.moe_experts + self.shared_experts) * self.mlp_params(self.moe_ffn_hidden)
        return self.attn_params() + experts + self.hidden * self.moe_experts

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def n_params(self) -> int:
        return (self.dense_layers_count() * self.layer_params(False) + self.moe_layers * self.layer_params(True)
                + self.embedding_params())

    def dense_layers_count(self) -> int:
        return self.dense_layers if self.is_moe else self.n_layers

    def n_params_active(self) -> int:
        """Parameters touched per token (top-k + shared experts only)."""
        if not self.is_moe:
            return self.n_params()
        act = self.attn_params() + (self.moe_topk + self.shared_experts) * self.mlp_params(self.moe_ffn_hidden)
        return (self.dense_layers * self.layer_params(False) + self.moe_layers * (act + self.hidden * self.moe_experts)
                + self.embedding_params())

    def model_flops_per_token(self, seq: int, *, causal_halving: bool = False) -> float:
        """Training model FLOPs per token: 6 x active matmul params (embedding lookup excluded, LM head
        included) + attention 12 x L x heads x head_dim x seq (forward 4, x3 for fwd+bwd). Non-causal
        convention by default (docs/glossary.md), as llm-foundry, Megatron and FlashAttention-2 count."""
        matmul = self.n_params_active() - self.vocab * self.hidden * (0 if self.tied_embeddings else 1)
        attn = 6.0 * self.n_layers * self.n_heads * (self.hd + self.hd_v) * seq
        return 6.0 * matmul + attn * (0.5 if causal_halving else 1.0)


_RECURRENT_KINDS = ("mamba", "linear_attention", "hybrid")
_SSM_FIELDS = ("ssm_state_size", "mamba_d_state", "state_size", "mamba_n_heads")


def _refuse_recurrent_layers(name: str, cfg: Any) -> None:
    """TransformerArch has softmax-attention layers only: a hybrid state-space or linear-attention stack
    (Mamba-2, gated DeltaNet, lightning attention) would be priced as attention layers, so it is refused."""
    kinds = [str(k) for f in ("layer_types", "layers_block_type") for k in (getattr(cfg, f, None) or [])]
    recurrent = sorted({k for k in kinds if k in _RECURRENT_KINDS})
    if recurrent or any(getattr(cfg, f, None) for f in _SSM_FIELDS):
        what = ", ".join(recurrent) or "state-space"
        raise ValueError(f"arch {name!r}: the parallel planner describes softmax-attention decoders only, not "
                         f"{what} layers; predict it on one device with `trainperf predict {name}`")


def from_hf_config(name: str, cfg: Any) -> TransformerArch:
    """A TransformerArch from a transformers config object (Llama / Qwen / Mixtral / DeepSeek style)."""
    _refuse_recurrent_layers(name, cfg)
    g = lambda k, d=0: getattr(cfg, k, d) or d  # noqa: E731
    n_exp = int(g("num_local_experts") or g("num_experts") or g("n_routed_experts"))
    heads = int(g("num_attention_heads"))
    return TransformerArch(
        name=name, n_layers=int(g("num_hidden_layers")), hidden=int(g("hidden_size")),
        ffn_hidden=int(g("intermediate_size")), n_heads=heads,
        n_kv_heads=int(g("num_key_value_heads", heads)), vocab=int(g("vocab_size")),
        head_dim=int(g("qk_nope_head_dim") + g("qk_rope_head_dim") or g("head_dim")),
        v_head_dim=int(g("v_head_dim")), gated_mlp=True, moe_experts=n_exp,
        moe_topk=int(g("num_experts_per_tok") or g("moe_topk")) if n_exp else 0,
        moe_ffn_hidden=int(g("moe_intermediate_size") or g("intermediate_size")) if n_exp else 0,
        shared_experts=int(g("n_shared_experts")), dense_layers=int(g("first_k_dense_replace")),
        q_lora_rank=int(g("q_lora_rank")), kv_lora_rank=int(g("kv_lora_rank")),
        tied_embeddings=bool(g("tie_word_embeddings", False)),
    )
