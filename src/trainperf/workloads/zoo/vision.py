"""Vision transformers built with transformers from their published configs (random init, no download):
ViT B/16, L/16, H/14 and Swin-B (image classification, cross-entropy), CLIP ViT-L/14 (contrastive image-text
loss) and the SigLIP So400m/14 vision tower with a linear classifier.

Also the image helpers the CNN recipes share (cnn.py): a synthetic ImageNet batch and the size checks.
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
    check_seq,
    encoder_layer_matmul_params,
    set_attention,
)

IMAGENET_CLASSES = 1000


def check_image(name: str, image_size: int, multiple: int, what: str = "patch size") -> None:
    """Raise ValueError unless the image side is a positive multiple of ``multiple``."""
    if image_size < multiple or image_size % multiple:
        raise ValueError(f"{name}: image_size={image_size} is not a multiple of the {what} {multiple}; "
                         f"use e.g. {max(multiple, image_size // multiple * multiple)}")


def image_batch(batch: int, image_size: int, classes: int) -> dict[str, Any]:
    """Synthetic ImageNet-style batch: NCHW pixels in the default dtype (the capture's dtype) and labels."""
    import torch

    return {"pixel_values": torch.randn(batch, 3, image_size, image_size),
            "labels": torch.randint(0, classes, (batch,))}


def like_params(model: Any, x: Any) -> Any:
    """``x`` in the model's parameter dtype (a capture may build the batch in another float dtype)."""
    return x.to(next(model.parameters()).dtype)


def labels(classes: int) -> dict[str, Any]:
    """``num_labels`` for a transformers config (a generic PreTrainedConfig kwarg the typed signatures omit)."""
    return {"num_labels": classes}


def hf_image_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy computed by a transformers ``*ForImageClassification`` model from ``labels``."""
    return model(pixel_values=like_params(model, batch["pixel_values"]), labels=batch["labels"]).loss


@dataclass(frozen=True, kw_only=True)
class ViTArch:
    """A plain ViT encoder (pre-LN, GELU MLP) on square patches; ``cls`` adds a class token."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    patch: int
    classes: int = IMAGENET_CLASSES
    cls: bool = True

    def validate(self, image_size: int) -> None:
        check_heads("vit", self.hidden, self.heads)
        check_image("vit", image_size, self.patch)

    def tokens(self, image_size: int) -> int:
        return (image_size // self.patch) ** 2 + int(self.cls)

    def flops_per_image(self, image_size: int, head_tokens: int = 1) -> float:
        """fwd+bwd model FLOPs of one image: patch embedding (a matmul of 3·p² x d per patch), every layer's
        matmuls on every token (6·params·tokens), attention products (_common.attention_train_flops_per_token)
        and the classifier on ``head_tokens`` pooled tokens. Matches timm's published GMACs x 6 (tests)."""
        t, patches = self.tokens(image_size), (image_size // self.patch) ** 2
        dh = self.hidden // self.heads
        mm = patches * 3 * self.patch**2 * self.hidden + t * self.layers * encoder_layer_matmul_params(
            self.hidden, self.hidden, self.ffn) + head_tokens * self.hidden * self.classes
        return 6.0 * mm + t * attention_train_flops_per_token(self.layers, t, self.heads, dh, dh)


def _vit_config(a: ViTArch, image_size: int, layers: int) -> Any:
    from transformers import ViTConfig

    return set_attention(ViTConfig(
        hidden_size=a.hidden, num_hidden_layers=layers, num_attention_heads=a.heads, intermediate_size=a.ffn,
        image_size=image_size, patch_size=a.patch, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **labels(a.classes),
    ))


def vit_builder(full: ViTArch, tiny: ViTArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        a.validate(size.image_size)
        b, img = size.batch, size.image_size
        cfg = _vit_config(a, img, 1 if reduced else a.layers)

        def make_model() -> Any:
            from transformers import ViTForImageClassification

            return ViTForImageClassification(cfg)

        return Built(
            make_model=make_model, make_batch=lambda: image_batch(b, img, a.classes), loss=hf_image_loss,
            make_optimizer=adamw, batch=b, seq=a.tokens(img), samples_per_step=b,
            tokens_per_step=b * a.tokens(img), unit="sample", model_flops=b * a.flops_per_image(img),
            repeats=(Repeat(module_list="vit.layers", full_to_captured=(0,) * a.layers),) if reduced else (),
        )

    return build


_VIT_SRC = "Dosovitskiy et al. 2021 (arXiv 2010.11929) Table 1; transformers ViTConfig"
_TIMM_CSV = "pytorch-image-models results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv"
_TINY_VIT = ViTArch(hidden=64, layers=2, heads=4, ffn=128, patch=8, classes=10)
VIT_B16 = ViTArch(hidden=768, layers=12, heads=12, ffn=3072, patch=16)
VIT_L16 = ViTArch(hidden=1024, layers=24, heads=16, ffn=4096, patch=16)
VIT_H14 = ViTArch(hidden=1280, layers=32, heads=16, ffn=5120, patch=14)

# (name, arch, published params + source, timm GMACs at 224, per-device batch)
for _name, _arch, _params, _psrc, _gmacs, _batch in [
    ("vit-b16", VIT_B16, 86.6e6, "timm vit_base_patch16_224: 86.57M (paper Table 1: 86M)", 17.58, 128),
    ("vit-l16", VIT_L16, 304.3e6, "timm vit_large_patch16_224: 304.33M (paper Table 1: 307M)", 61.6, 64),
    ("vit-h14", VIT_H14, 632e6, "Dosovitskiy et al. Table 1: ViT-Huge 632M (timm vit_huge_patch14_224 with a "
                                "1000-class head: 632.05M)", 167.4, 32),
]:
    register_workload(Workload(
        name=_name, domain=Domain.VISION, library="transformers",
        description=f"ViT {_name[4:].upper()}: {_arch.layers} layers, d={_arch.hidden}, {_arch.heads} heads, "
                    f"patch {_arch.patch}, 224² ({_arch.tokens(224)} tokens), 1000-class head",
        source=_VIT_SRC, build_fn=vit_builder(_arch, _TINY_VIT),
        # per-device micro-batch of the GBS-4096 ImageNet recipes (DeiT/timm: 4096 over 32 GPUs = 128)
        canonical={"full": Size(batch=_batch, image_size=224), "tiny": Size(batch=2, image_size=32)},
        published_params=_params, published_params_source=_psrc,
        train_flops_per_unit=_arch.flops_per_image(224),
        train_flops_source=f"analytic (ViTArch.flops_per_image); = timm {_gmacs} GMACs x 6 within 1% ({_TIMM_CSV})",
        supports_reduced=True,
    ))


@dataclass(frozen=True, kw_only=True)
class SwinArch:
    embed: int
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    window: int
    patch: int = 4
    classes: int = IMAGENET_CLASSES

    def validate(self, image_size: int) -> None:
        check_image("swin", image_size, self.patch * 2 ** (len(self.depths) - 1),
                    "patch size x the stages' 2x2 patch mergings")
        for i, h in enumerate(self.heads):
            check_heads(f"swin stage {i}", self.embed * 2**i, h)


def swin_builder(full: SwinArch, tiny: SwinArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        from transformers import SwinConfig

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        a.validate(size.image_size)
        b, img = size.batch, size.image_size
        cfg = set_attention(SwinConfig(
            image_size=img, patch_size=a.patch, embed_dim=a.embed, depths=list(a.depths), num_heads=list(a.heads),
            window_size=a.window, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            # stochastic depth draws per-sample masks; off so every step runs the same ops
            drop_path_rate=0.0, **labels(a.classes),
        ))

        def make_model() -> Any:
            from transformers import SwinForImageClassification

            return SwinForImageClassification(cfg)

        return Built(
            make_model=make_model, make_batch=lambda: image_batch(b, img, a.classes), loss=hf_image_loss,
            make_optimizer=adamw, batch=b, seq=None, samples_per_step=b, tokens_per_step=b * (img // a.patch) ** 2,
            unit="sample", model_flops=b * 6.0 * 15.47e9 * (img / 224) ** 2 if flavor == "full" else 0.0,
        )

    return build


SWIN_B = SwinArch(embed=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), window=7)
register_workload(Workload(
    name="swin-b", domain=Domain.VISION, library="transformers",
    description="Swin-B: hierarchical windowed ViT, depths 2-2-18-2, embed 128, window 7, 224²; stages differ "
                "(width, heads, shifted windows), so it is captured whole",
    source="Liu et al. 2021 (arXiv 2103.14030) 3.3 Swin-B; transformers SwinConfig",
    build_fn=swin_builder(SWIN_B, SwinArch(embed=16, depths=(2, 2, 2, 2), heads=(1, 2, 4, 8), window=2,
                                                     classes=10)),
    # Swin paper: batch 1024 over 8 GPUs (ImageNet-1K, A.2.1)
    canonical={"full": Size(batch=128, image_size=224), "tiny": Size(batch=2, image_size=64)},
    published_params=88e6, published_params_source="Liu et al. 2021 Table 1(a): Swin-B 88M (timm 87.77M)",
    train_flops_per_unit=6.0 * 15.47e9,
    train_flops_source=f"timm swin_base_patch4_window7_224 15.47 GMACs x 6 ({_TIMM_CSV}); paper 15.4G",
))


@dataclass(frozen=True, kw_only=True)
class ClipArch:
    vision: ViTArch
    text_hidden: int
    text_layers: int
    text_heads: int
    text_ffn: int
    vocab: int
    positions: int
    projection: int

    def validate(self, image_size: int, seq: int) -> None:
        self.vision.validate(image_size)
        check_heads("clip text", self.text_hidden, self.text_heads)
        check_seq("clip text", seq, self.positions)

    def flops_per_pair(self, image_size: int, seq: int) -> float:
        """Vision tower (no classifier) + text tower + both projections, fwd+bwd; the B x B similarity
        logits are left out (per pair they grow with the batch and are < 0.1% at B = 256)."""
        v = self.vision
        dh = self.text_hidden // self.text_heads
        text = seq * (6.0 * self.text_layers * encoder_layer_matmul_params(self.text_hidden, self.text_hidden,
                                                                           self.text_ffn)
                      + attention_train_flops_per_token(self.text_layers, seq, self.text_heads, dh, dh))
        proj = 6.0 * (v.hidden + self.text_hidden) * self.projection
        return v.flops_per_image(image_size, head_tokens=0) + text + proj


def clip_builder(full: ClipArch, tiny: ClipArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        from transformers import CLIPConfig

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None and size.seq is not None
        a.validate(size.image_size, size.seq)
        b, img, seq, v = size.batch, size.image_size, size.seq, a.vision
        cfg = set_attention(CLIPConfig(
            text_config=dict(hidden_size=a.text_hidden, intermediate_size=a.text_ffn, vocab_size=a.vocab,
                             num_hidden_layers=1 if reduced else a.text_layers, num_attention_heads=a.text_heads,
                             max_position_embeddings=a.positions, pad_token_id=a.vocab - 1,
                             bos_token_id=a.vocab - 2, eos_token_id=a.vocab - 1),
            vision_config=dict(hidden_size=v.hidden, intermediate_size=v.ffn, num_attention_heads=v.heads,
                               num_hidden_layers=1 if reduced else v.layers, patch_size=v.patch, image_size=img),
            projection_dim=a.projection,
        ))

        def make_model() -> Any:
            from transformers import CLIPModel

            return CLIPModel(cfg)

        def make_batch() -> dict[str, Any]:
            import torch

            # captions end with the end-of-text token: the text tower pools the hidden state there
            ids = torch.cat([torch.randint(0, a.vocab - 2, (b, seq - 1)), torch.full((b, 1), a.vocab - 1)], dim=1)
            return {"input_ids": ids, "pixel_values": torch.randn(b, 3, img, img)}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            return model(input_ids=batch["input_ids"], pixel_values=like_params(model, batch["pixel_values"]),
                         return_loss=True).loss

        stacks = (("text_model.encoder.layers", a.text_layers), ("vision_model.encoder.layers", v.layers))
        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=adamw,
            batch=b, seq=seq, samples_per_step=b, tokens_per_step=b * (seq + v.tokens(img)), unit="sample",
            model_flops=b * a.flops_per_pair(img, seq),
            repeats=tuple(Repeat(module_list=m, full_to_captured=(0,) * n) for m, n in stacks) if reduced else (),
        )

    return build


CLIP_L14 = ClipArch(vision=ViTArch(hidden=1024, layers=24, heads=16, ffn=4096, patch=14, classes=0),
                    text_hidden=768, text_layers=12, text_heads=12, text_ffn=3072, vocab=49408, positions=77,
                    projection=768)
_TINY_CLIP = ClipArch(vision=ViTArch(hidden=64, layers=2, heads=4, ffn=128, patch=8, classes=0),
                      text_hidden=32, text_layers=2, text_heads=2, text_ffn=64, vocab=512, positions=16, projection=32)
register_workload(Workload(
    name="clip-vit-l14", domain=Domain.VLM, library="transformers",
    description="CLIP ViT-L/14: 24-layer d=1024 vision tower at 224² (257 tokens) + 12-layer d=768 text tower on "
                "77 tokens, 768-d projections, symmetric contrastive loss over the batch",
    source="Radford et al. 2021 (arXiv 2103.00020) Table 19-20; openai/clip-vit-large-patch14 config.json",
    build_fn=clip_builder(CLIP_L14, _TINY_CLIP),
    # CLIP: global batch 32768; 256 pairs per device (OpenCLIP ViT-L/14 runs)
    canonical={"full": Size(batch=256, image_size=224, seq=77), "tiny": Size(batch=4, image_size=32, seq=16)},
    published_params=427.6e6,
    published_params_source="openai/clip-vit-large-patch14 safetensors: 427,616,513 parameters",
    train_flops_per_unit=CLIP_L14.flops_per_pair(224, 77),
    train_flops_source="analytic (ClipArch.flops_per_pair); notes Part 3 measured 529 GF/pair",
    supports_reduced=True,
))


def siglip_builder(full: ViTArch, tiny: ViTArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        from transformers import SiglipVisionConfig

        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        a.validate(size.image_size)
        b, img = size.batch, size.image_size
        cfg = set_attention(SiglipVisionConfig(
            hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=1 if reduced else a.layers,
            num_attention_heads=a.heads, patch_size=a.patch, image_size=img,
        ))

        def make_model() -> Any:
            import torch
            from transformers import SiglipVisionModel

            class SiglipClassifier(torch.nn.Module):
                """SigLIP vision tower (attention-pooling MAP head) + a linear classifier on the pooled token."""

                def __init__(self) -> None:
                    super().__init__()
                    self.vision = SiglipVisionModel(cfg)
                    self.head = torch.nn.Linear(a.hidden, a.classes)

                def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                    return self.head(self.vision(pixel_values=pixel_values).pooler_output)  # type: ignore[no-any-return]

            return SiglipClassifier()

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            import torch.nn.functional as F

            return F.cross_entropy(model(like_params(model, batch["pixel_values"])), batch["labels"])

        # the MAP head: one query attends all patch tokens (K/V on every token), MLP on the pooled token
        map_head = 6.0 * (a.tokens(img) * 2 * a.hidden**2 + 2 * a.hidden**2 + 2 * a.hidden * a.ffn) \
            + 6.0 * a.tokens(img) * a.hidden * 2
        return Built(
            make_model=make_model, make_batch=lambda: image_batch(b, img, a.classes), loss=loss, make_optimizer=adamw,
            batch=b, seq=a.tokens(img), samples_per_step=b, tokens_per_step=b * a.tokens(img), unit="sample",
            model_flops=b * (a.flops_per_image(img) + map_head),
            repeats=(Repeat(module_list="vision.encoder.layers", full_to_captured=(0,) * a.layers),)
            if reduced else (),
        )

    return build


SIGLIP_SO400M = ViTArch(hidden=1152, layers=27, heads=16, ffn=4304, patch=14, cls=False)
_SIGLIP_MAP = 6.0 * (256 * 2 * 1152**2 + 2 * 1152**2 + 2 * 1152 * 4304) + 6.0 * 256 * 1152 * 2
register_workload(Workload(
    name="siglip-so400m", domain=Domain.VISION, library="transformers",
    description="SigLIP So400m/14 vision tower (27 layers, d=1152, MLP 4304, 16 heads, 256 tokens at 224², no "
                "class token, MAP attention pooling) + linear 1000-class head, cross-entropy",
    source="Alabdulmohsin et al. 2023 (arXiv 2305.13035) SoViT-400m/14; google/siglip-so400m-patch14-224 config",
    build_fn=siglip_builder(SIGLIP_SO400M, ViTArch(hidden=64, layers=2, heads=4, ffn=112, patch=8, classes=10,
                                                    cls=False)),
    canonical={"full": Size(batch=64, image_size=224), "tiny": Size(batch=2, image_size=32)},
    published_params=427.7e6 + 1152 * 1001,
    published_params_source="timm vit_so400m_patch14_siglip_224 (tower with MAP head): 427.68M, + our 1000-class "
                            "linear head 1.15M",
    train_flops_per_unit=SIGLIP_SO400M.flops_per_image(224) + _SIGLIP_MAP,
    train_flops_source=f"analytic (ViTArch.flops_per_image + MAP head); = timm 110.26 GMACs x 6 within 1% "
                       f"({_TIMM_CSV})",
    supports_reduced=True,
))
