"""Qwen2.5-VL 7B (Bai et al. 2025, arXiv 2502.13923): a 32-block ViT (d=1280, 2-D RoPE, SwiGLU, RMSNorm) with
window attention (112 px windows = 8x8 patches) in all blocks but four full-attention ones (7, 15, 23, 31), a 2x2
patch merger into the Qwen2.5-7B decoder (28 layers, d=3584, GQA 28/4, M-RoPE). transformers
Qwen2_5_VLForConditionalGeneration, random init, no download.

Training step: one image per sequence at a fixed 448x448 (dynamic resolution would vary it per sample; a fixed
side that is a multiple of the 112 px window makes every window full, 16 windows of 64 patches), 1024 patches ->
256 image tokens, at the start of an 8192-token sequence (the report's pre-training sequence length before the
32k long-context stage); next-token loss on the text tokens (image positions labelled -100).

How the recipe runs what transformers computes from ``image_grid_thw`` with ``.tolist()`` and ``.item()``
(data-dependent on fake tensors), all of it precomputed statically from the known grid:
- the vision tower gets the rotary position ids, ``cu_seqlens``, ``window_index`` and ``cu_window_seqlens`` as
  the precomputed kwargs transformers' ``vision_utils`` accepts; the LLM gets the 3-D M-RoPE position ids
  (``get_rope_index``'s layout: image tokens at (t, h, w) grid offsets, text after at max + 1).
- the loss runs ``Qwen2_5_VLModel.forward``'s image steps itself (encode, masked_scatter into the image-token
  embeddings), then calls the model with ``inputs_embeds`` for the LLM, LM head and loss.
- the vision attention (non-flash path) splits q/k/v by ``cu_seqlens.tolist()`` and calls attention once per
  window; during the loss, ``equal_windows()`` replaces its forward with one batched attention call over the
  equal-length segments (same FLOPs and bytes; one kernel, as flash-attention varlen runs it on a GPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._common import adamw

# Qwen/Qwen2.5-VL-7B-Instruct config.json (transformers 4.53 export): text and vision fields that differ from the
# transformers 5.24 class defaults.
_TEXT: dict[str, Any] = dict(
    vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
    num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6, max_window_layers=28,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
)
_VISION: dict[str, Any] = dict(
    depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
    spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
    tokens_per_second=2,
)
_TINY_TEXT: dict[str, Any] = dict(
    vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=512,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
)
_TINY_VISION: dict[str, Any] = dict(
    depth=4, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=64, patch_size=14,
    spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1, 3],
)


def _config(text: dict[str, Any], vision: dict[str, Any]) -> Any:
    from transformers import Qwen2_5_VLConfig

    v = text["vocab_size"]  # the four vision special ids sit at the end of the vocabulary
    cfg: Any = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=v - 1, video_token_id=v - 2,
                                vision_start_token_id=v - 3, vision_end_token_id=v - 4, tie_word_embeddings=False)
    for c in (cfg, cfg.text_config, cfg.vision_config):
        c._attn_implementation = "sdpa"
    return cfg


def _equal_windows_forward(self: Any, hidden_states: Any, cu_seqlens: Any, position_embeddings: Any = None,
                           max_seqlen: Any = None, **kwargs: Any) -> Any:
    """Qwen2_5_VLVisionAttention.forward with every segment of ``cu_seqlens`` the same length (the recipe's
    grids guarantee it): one attention call over (segments, heads, length, head_dim)."""
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as m

    s, n = hidden_states.shape[0], cu_seqlens.shape[0] - 1
    q, k, v = self.qkv(hidden_states).reshape(s, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = m.apply_rotary_pos_emb_vision(q, k, cos, sin)
    q, k, v = (t.reshape(n, s // n, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))  # (n, H, S/n, D)
    attn = m.ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, m.eager_attention_forward)
    out, _ = attn(self, q, k, v, attention_mask=None, scaling=self.scaling, dropout=0.0, is_causal=False, **kwargs)
    return self.proj(out.reshape(s, -1).contiguous())  # out: (n, S/n, H, D), segment-major like the split path


@contextmanager
def equal_windows() -> Iterator[None]:
    """Swap in ``_equal_windows_forward`` for the duration of the block (the class attribute is restored)."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLVisionAttention as Attn

    original = Attn.forward
    Attn.forward = _equal_windows_forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        Attn.forward = original  # type: ignore[method-assign]


def qwen_vl_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Qwen2_5_VLModel.forward's image steps with precomputed vision indices, then the model on inputs_embeds."""
    ids = batch["input_ids"]
    emb = model.get_input_embeddings()(ids)
    with equal_windows():
        feats = model.model.visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"],
                                   **batch["vision_kwargs"]).pooler_output
    mask = (ids == model.config.image_token_id).unsqueeze(-1).expand_as(emb)
    emb = emb.masked_scatter(mask, feats.to(emb.dtype))
    return model(inputs_embeds=emb, position_ids=batch["position_ids"], labels=batch["labels"]).loss


def _vision_kwargs(vision: dict[str, Any], images: int, side: int) -> dict[str, Any]:
    """What transformers' vision_utils computes from image_grid_thw, for ``images`` square images of ``side`` px,
    with static-shape ops only."""
    import torch

    p, m = vision["patch_size"], vision["spatial_merge_size"]
    g, win = side // p, vision["window_size"] // m // p  # patches per side; window side in merged units
    hpos = torch.arange(g).view(g, 1).expand(g, g)
    block = (g // m, m, g // m, m)  # positions laid out block-major over the m x m merge blocks
    hw = torch.stack([hpos.reshape(block).transpose(1, 2).flatten(), hpos.t().reshape(block).transpose(1, 2).flatten()],
                     dim=-1)
    gm, nw = g // m, (g // m // win) ** 2
    one = torch.arange(gm * gm).view(gm // win, win, gm // win, win).permute(0, 2, 1, 3).flatten()
    window_index = torch.cat([one + i * gm * gm for i in range(images)])
    return {"position_ids": hw.repeat(images, 1), "window_index": window_index,
            "cu_seqlens": (torch.arange(images + 1) * g * g).to(torch.int32),
            "cu_window_seqlens": (torch.arange(images * nw + 1) * win * win * m * m).to(torch.int32)}


def _mrope_positions(b: int, s: int, gm: int) -> Any:
    """get_rope_index's (3, B, S) layout for [vision_start, gm*gm image tokens, text...]: the image's tokens at
    (1, 1 + row, 1 + col), the text after at 1 + gm onward on all three axes."""
    import torch

    n = gm * gm
    pos = torch.arange(s).view(1, 1, s).repeat(3, b, 1)
    img = torch.stack([torch.ones(n, dtype=torch.long), 1 + torch.arange(gm).repeat_interleave(gm),
                       1 + torch.arange(gm).repeat(gm)])
    pos[:, :, 1:1 + n] = img.view(3, 1, n)
    pos[:, :, 1 + n:] = torch.arange(s - 1 - n).view(1, 1, -1) + 1 + gm
    return pos


def matmul_params(text: dict[str, Any], vision: dict[str, Any]) -> tuple[int, int, int, int]:
    """(LLM matmul parameters per token incl. the LM head, ViT block matmul parameters per patch, merger matmul
    parameters per merged token, patch-embedding weights per patch), from the config fields (no torch: listing the
    zoo imports none; a test checks them against the nn.Linear weights of a meta build)."""
    d, f, h, kv = text["hidden_size"], text["intermediate_size"], text["num_attention_heads"], text["num_key_value_heads"]
    dh = d // h
    llm = text["num_hidden_layers"] * (2 * d * h * dh + 2 * d * kv * dh + 3 * d * f) + d * text["vocab_size"]
    dv, fv = vision["hidden_size"], vision["intermediate_size"]
    blocks = vision["depth"] * (4 * dv * dv + 3 * dv * fv)  # qkv + proj, SwiGLU gate/up/down
    ctx = dv * vision["spatial_merge_size"] ** 2
    merger = ctx * ctx + ctx * vision["out_hidden_size"]
    embed = 3 * vision["temporal_patch_size"] * vision["patch_size"] ** 2 * dv
    return llm, blocks, merger, embed


def qwen_vl_model_flops(flavor: str, b: int, s: int, side: int) -> float:
    """6 x matmul parameters per token/patch (4 x for the patch embedding) + softmax attention (window blocks over 64 patches, full blocks over
    the image), fwd+bwd, no causal halving (docs/zoo.md, 2025-26 networks)."""
    text, vision = (_TEXT, _VISION) if flavor == "full" else (_TINY_TEXT, _TINY_VISION)
    n_text, n_blocks, n_merger, n_embed = matmul_params(text, vision)
    p, m = vision["patch_size"], vision["spatial_merge_size"]
    patches, win = (side // p) ** 2, (vision["window_size"] // p) ** 2
    dh_t = text["hidden_size"] // text["num_attention_heads"]
    dh_v = vision["hidden_size"] // vision["num_heads"]
    full = len(vision["fullatt_block_indexes"])
    llm = s * (6.0 * n_text + mx.softmax_attention(text["num_hidden_layers"], s, text["num_attention_heads"],
                                                    dh_t, dh_t))
    vit = patches * (6.0 * (n_blocks + n_merger / m ** 2) + 4.0 * n_embed  # pixels get no gradient
                     + mx.softmax_attention(vision["depth"] - full, win, vision["num_heads"], dh_v, dh_v)
                     + mx.softmax_attention(full, patches, vision["num_heads"], dh_v, dh_v))
    return b * (llm + vit)


def _builder() -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        text, vision = (_TEXT, _VISION) if flavor == "full" else (_TINY_TEXT, _TINY_VISION)
        assert size.batch is not None and size.seq is not None and size.image_size is not None
        b, s, side = size.batch, size.seq, size.image_size
        if side % vision["window_size"]:
            raise ValueError(f"qwen2.5-vl: image_size={side} must be a multiple of the {vision['window_size']} px "
                             "attention window (every window full)")
        p, m = vision["patch_size"], vision["spatial_merge_size"]
        g, gm = side // p, side // p // m
        if s < gm * gm + 2:
            raise ValueError(f"qwen2.5-vl: seq={s} cannot hold a {side} px image ({gm * gm} tokens); "
                             f"use seq >= {gm * gm + 2}")
        full = set(vision["fullatt_block_indexes"])
        blocks = tuple(1 if i in full else 0 for i in range(vision["depth"]))  # window block 0, full block 1
        if reduced:
            cfg = _config(dict(text, num_hidden_layers=1), dict(vision, depth=2, fullatt_block_indexes=[1]))
        else:
            cfg = _config(text, vision)
        v, t = text["vocab_size"], vision["temporal_patch_size"]

        def make_model() -> Any:
            from transformers import Qwen2_5_VLForConditionalGeneration

            return Qwen2_5_VLForConditionalGeneration(cfg)

        def make_batch() -> dict[str, Any]:
            import torch

            ids = torch.randint(0, v - 4, (b, s))
            ids[:, 0] = v - 3  # vision start
            ids[:, 1:1 + gm * gm] = v - 1  # image tokens
            labels = ids.clone()
            labels[:, :1 + gm * gm] = -100  # next-token loss on the text only
            # the processor's flattened patches: one row of (channels x temporal x patch x patch) per patch, the
            # image repeated over the temporal patch of 2
            px = torch.randn(b * g * g, 3 * t * p * p)
            grid = torch.tensor([[1, g, g]] * b)
            return {"input_ids": ids, "labels": labels, "pixel_values": px, "image_grid_thw": grid,
                    "vision_kwargs": _vision_kwargs(vision, b, side), "position_ids": _mrope_positions(b, s, gm)}

        # in named_modules order (the vision tower is built first): capture/replicate.expand numbers the captured
        # blocks by the order of the repeats
        repeats = (Repeat(module_list="model.visual.blocks", full_to_captured=blocks),
                   Repeat(module_list="model.language_model.layers", full_to_captured=(0,) * text["num_hidden_layers"]))
        return Built(make_model=make_model, make_batch=make_batch, loss=qwen_vl_loss, make_optimizer=adamw,
                     batch=b, seq=s, samples_per_step=b, tokens_per_step=b * s,
                     model_flops=qwen_vl_model_flops(flavor, b, s, side), repeats=repeats if reduced else ())

    return build


register_workload(Workload(
    name="qwen2.5-vl-7b", domain=Domain.VLM, library="transformers",
    description="Qwen2.5-VL 7B: ViT 32 blocks d=1280 (window attention over 8x8 patches, 4 full-attention blocks), "
                "2x2 merger into Qwen2.5-7B (28 layers, d=3584, GQA 28/4, M-RoPE); one 448x448 image (1024 patches, "
                "256 tokens) per 8192-token sequence, next-token loss on the text",
    source="Bai et al. 2025 'Qwen2.5-VL Technical Report' (arXiv 2502.13923) sec. 2.1; Qwen/Qwen2.5-VL-7B-Instruct "
           "config.json",
    build_fn=_builder(),
    canonical={"full": Size(batch=1, seq=8192, image_size=448), "tiny": Size(batch=2, seq=32, image_size=112)},
    published_params=8.29e9,
    published_params_source="Hugging Face Qwen/Qwen2.5-VL-7B-Instruct model page: 8.29B parameters (safetensors)",
    train_flops_per_unit=qwen_vl_model_flops("full", 1, 8192, 448) / 8192,
    train_flops_source="analytic: 6 x LLM matmul parameters + causal-unhalved attention per token, plus the ViT's "
                       "6 x matmul parameters and window/full attention per patch (vlm_qwen.qwen_vl_model_flops)",
    supports_reduced=True, tags=("vlm",),
))
