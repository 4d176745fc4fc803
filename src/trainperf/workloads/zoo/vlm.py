"""Llama 4 Scout: a natively multimodal MoE decoder (17B active, 16 experts) with its ViT image encoder,
trained on interleaved text and images. transformers config, random init, no download.

Two things about how transformers 5.24 runs it, both visible in the capture:
- ``Llama4TextExperts`` multiplies every token by all 16 experts (one ``bmm`` over the expert axis, with the
  unrouted tokens' scores zeroed), so the captured routed-expert FLOPs are E/top_k = 16x what a grouped-GEMM
  MoE executes; model FLOPs count the routed work only (top-1 + shared expert).
- ``Llama4ForConditionalGeneration.forward`` reads ``outputs.image_outputs`` from the text model's output,
  which has no such field, and raises after the loss is computed. The recipe's loss runs the same steps as that
  forward (embed, encode the images, project, scatter into the image-token positions, language model with
  labels) and returns the loss, so the step is the one the model class defines.
"""

from __future__ import annotations

import functools
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Repeat, Size, Workload, register_workload
from trainperf.workloads.zoo import _mixers as mx
from trainperf.workloads.zoo._common import adamw

_NO_IDS: dict[str, Any] = {"pad_token_id": None, "bos_token_id": None, "eos_token_id": None}

# meta-llama/Llama-4-Scout-17B-16E config.json: text = Llama4TextConfig defaults (48 MoE layers, d=5120, GQA 40/8,
# 16 experts of 8192 top-1 + shared 8192, chunked attention 8192 with NoPE global layers every 4th); vision
# 34 layers d=1408, 336 px in 14 px patches, pixel shuffle 0.5 -> 144 tokens per image.
_TEXT: dict[str, Any] = dict(
    vocab_size=202048, hidden_size=5120, intermediate_size=8192, intermediate_size_mlp=16384, num_hidden_layers=48,
    num_attention_heads=40, num_key_value_heads=8, head_dim=128, num_local_experts=16, num_experts_per_tok=1,
    interleave_moe_layer_step=1, no_rope_layer_interval=4, attention_chunk_size=8192,
    rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, output_router_logits=False,
)
_VISION: dict[str, Any] = dict(
    hidden_size=1408, num_hidden_layers=34, num_attention_heads=16, intermediate_size=5632, image_size=336,
    patch_size=14, vision_output_dim=4096, projector_input_dim=4096, projector_output_dim=4096,
    pixel_shuffle_ratio=0.5,
)
_TINY_TEXT: dict[str, Any] = dict(
    vocab_size=512, hidden_size=128, intermediate_size=64, intermediate_size_mlp=256, num_hidden_layers=4,
    num_attention_heads=8, num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=1,
    interleave_moe_layer_step=1, no_rope_layer_interval=4, attention_chunk_size=16, output_router_logits=False,
    **_NO_IDS,
)
_TINY_VISION: dict[str, Any] = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, image_size=56, patch_size=14,
    vision_output_dim=128, projector_input_dim=128, projector_output_dim=128, pixel_shuffle_ratio=0.5,
)
_SPECIAL = 3  # the last three ids are the image, begin-of-image and end-of-image tokens


def _config(text: dict[str, Any], vision: dict[str, Any]) -> Any:
    from transformers import Llama4Config

    v = text["vocab_size"]
    cfg: Any = Llama4Config(text_config=text, vision_config=vision, image_token_index=v - 1,
                            boi_token_index=v - 2, eoi_token_index=v - 3)  # Any: sub-configs are typed as unions
    cfg._attn_implementation = "sdpa"
    cfg.text_config._attn_implementation = "sdpa"
    cfg.vision_config._attn_implementation = "sdpa"
    return cfg


def _tokens_per_image(vision: dict[str, Any]) -> int:
    side = vision["image_size"] // vision["patch_size"]
    return int(side * side * vision["pixel_shuffle_ratio"] ** 2)


def llama4_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Llama4ForConditionalGeneration.forward's steps up to the loss (module docstring says why not forward)."""
    ids = batch["input_ids"]
    emb = model.get_input_embeddings()(ids)
    feats = model.get_image_features(pixel_values=batch["pixel_values"], return_dict=True).last_hidden_state
    proj = model.multi_modal_projector(feats.view(-1, feats.size(-1))).to(emb.dtype)
    mask = (ids == model.config.image_token_index).unsqueeze(-1).expand_as(emb)
    emb = emb.masked_scatter(mask, proj)
    return model.language_model(inputs_embeds=emb, labels=batch["labels"]).loss


@functools.lru_cache(maxsize=8)
def _matmul_params(flavor: str) -> tuple[int, int]:
    """(text matmul parameters a token uses, vision encoder + projector matmul parameters a patch uses), on a
    meta build: every nn.Linear, routed experts at top_k/E of their size."""
    import torch
    from transformers import Llama4ForConditionalGeneration

    text, vision = (_TEXT, _VISION) if flavor == "full" else (_TINY_TEXT, _TINY_VISION)
    with torch.device("meta"):
        model = Llama4ForConditionalGeneration(_config(text, vision))
    k_over_e = text["num_experts_per_tok"] / text["num_local_experts"]

    def linear(mod: Any) -> int:
        return sum(m.weight.numel() for m in mod.modules() if isinstance(m, torch.nn.Linear))

    lm = model.language_model
    experts = sum(p.numel() for n, p in lm.named_parameters() if p.dim() == 3 and ".experts." in n)
    return int(linear(lm) + experts * k_over_e), linear(model.vision_model) + linear(model.multi_modal_projector)


def _builder(flavor_images: int) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        text, vision = (_TEXT, _VISION) if flavor == "full" else (_TINY_TEXT, _TINY_VISION)
        assert size.batch is not None and size.seq is not None
        per_image = _tokens_per_image(vision)
        images = flavor_images
        if size.seq < images * per_image + 1:
            raise ValueError(f"llama4-scout: seq={size.seq} cannot hold {images} image(s) of {per_image} tokens; "
                             f"use seq >= {images * per_image + 1}")
        layers = text["num_hidden_layers"]
        interval = text["no_rope_layer_interval"]
        # first-seen kinds: RoPE chunked-attention layer (0), NoPE global layer (interval - 1)
        kinds = tuple(0 if (i + 1) % interval else 1 for i in range(layers))
        txt = dict(text, num_hidden_layers=2, no_rope_layers=[1, 0]) if reduced else text
        cfg = _config(txt, vision)
        v = text["vocab_size"]
        b, s = size.batch, size.seq

        def make_model() -> Any:
            from transformers import Llama4ForConditionalGeneration

            return Llama4ForConditionalGeneration(cfg)

        def make_batch() -> dict[str, Any]:
            import torch

            ids = torch.randint(0, v - _SPECIAL, (b, s))
            ids[:, 1:1 + images * per_image] = v - 1
            px = torch.randn(b * images, 3, vision["image_size"], vision["image_size"])
            return {"input_ids": ids, "labels": ids, "pixel_values": px}

        n_text, n_vision = _matmul_params(flavor)
        patches = (vision["image_size"] // vision["patch_size"]) ** 2 + 1  # + the class token
        dh_v = vision["hidden_size"] // vision["num_attention_heads"]
        text_flops = b * s * (6.0 * n_text + mx.softmax_attention(
            layers, s, text["num_attention_heads"], text["head_dim"], text["head_dim"]))
        vision_flops = b * images * patches * (6.0 * n_vision + mx.softmax_attention(
            vision["num_hidden_layers"], patches, vision["num_attention_heads"], dh_v, dh_v))
        return Built(
            make_model=make_model, make_batch=make_batch, loss=llama4_loss, make_optimizer=adamw,
            batch=b, seq=s, samples_per_step=b, tokens_per_step=b * s, model_flops=text_flops + vision_flops,
            repeats=(Repeat(module_list="language_model.model.layers", full_to_captured=kinds),) if reduced else (),
            n_params_active=n_text + text["vocab_size"] * text["hidden_size"] + n_vision,
        )

    return build


register_workload(Workload(
    name="llama4-scout-17b-16e", domain=Domain.MOE, library="transformers",
    description="Llama 4 Scout 17B-16E: 48 MoE layers (16 experts of 8192, top-1 + shared expert), d=5120, GQA "
                "40/8, chunked attention (8192) with a NoPE global layer every 4th; ViT-L-like image encoder "
                "(34 layers, d=1408) at 336 px, one image (144 tokens) per 8192-token sequence",
    source="Meta 2025 'The Llama 4 herd' (ai.meta.com/blog/llama-4-multimodal-intelligence); "
           "meta-llama/Llama-4-Scout-17B-16E config.json",
    build_fn=_builder(flavor_images=1),
    canonical={"full": Size(batch=1, seq=8192), "tiny": Size(batch=2, seq=32)},
    published_params=109e9,
    published_params_source="meta-llama/Llama-4-Scout-17B-16E model card: 17B active, 109B total parameters",
    supports_reduced=True, tags=("vlm", "dense-experts"),
))
