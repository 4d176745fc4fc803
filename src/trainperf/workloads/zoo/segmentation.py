"""Segment Anything (SAM, Kirillov et al. 2023, arXiv 2304.02643): a ViT image encoder at 1024² (16 px
patches, 14×14 windowed attention with four global-attention blocks), a prompt encoder and a two-way
transformer mask decoder. transformers SamModel from SamConfig, random init, no download.

Training step as the paper trains it (sec. 3 and appendix A): one image per GPU (256 images over 256
GPUs), up to 64 point prompts (masks) per image, one mask per prompt; loss = focal (x20) + dice on the
predicted low-res masks plus MSE between the predicted IoU and the mask's IoU. The synthetic target masks
are random, which changes no shape or FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw

_SRC = "Kirillov et al. 2023 (arXiv 2304.02643) sec. 3, appendix A; transformers SamConfig"
_CARDS = "Hugging Face model cards facebook/sam-vit-{base,large,huge}: 93.7M, 312M, 641M parameters"


@dataclass(frozen=True, kw_only=True)
class SamArch:
    hidden: int
    layers: int
    heads: int
    global_attn: tuple[int, ...]
    image: int = 1024
    window: int = 14
    prompts: int = 64

    def config(self) -> Any:
        from transformers import SamConfig

        return SamConfig(vision_config=dict(
            hidden_size=self.hidden, num_hidden_layers=self.layers, num_attention_heads=self.heads,
            mlp_dim=4 * self.hidden, global_attn_indexes=list(self.global_attn), image_size=self.image,
            window_size=self.window),
            prompt_encoder_config=dict(image_size=self.image, image_embedding_size=self.image // 16))


def sam_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Focal (x20) + dice on the masks, MSE on the predicted IoU (SAM appendix A)."""
    import torch
    import torch.nn.functional as F

    out = model(pixel_values=batch["pixel_values"], input_points=batch["input_points"], multimask_output=False)
    logits, target = out.pred_masks, batch["masks"]
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    focal = (0.25 * (1 - p_t) ** 2 * ce).mean()  # alpha 0.25, gamma 2 (Lin et al. 2017)
    inter = (p * target).flatten(-2).sum(-1)
    dice = 1 - (2 * inter + 1) / (p.flatten(-2).sum(-1) + target.flatten(-2).sum(-1) + 1)
    iou = inter / ((p + target - p * target).flatten(-2).sum(-1) + 1e-6)
    return 20 * focal + dice.mean() + F.mse_loss(out.iou_scores, iou.detach())


def sam_builder(full: SamArch, tiny: SamArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None
        b, cfg = size.batch, a.config()
        low = a.image // 4  # the decoder predicts masks at a quarter of the input side (256² at 1024²)

        def make_model() -> Any:
            from transformers import SamModel

            return SamModel(cfg)

        def make_batch() -> dict[str, Any]:
            import torch

            return {"pixel_values": torch.randn(b, 3, a.image, a.image),
                    "input_points": torch.rand(b, a.prompts, 1, 2) * a.image,
                    "masks": (torch.rand(b, a.prompts, 1, low, low) > 0.5).float()}

        tokens = (a.image // 16) ** 2
        return Built(make_model=make_model, make_batch=make_batch, loss=sam_loss, make_optimizer=adamw, batch=b,
                     seq=tokens, samples_per_step=b, tokens_per_step=b * tokens, unit="sample")

    return build


_TINY = SamArch(hidden=64, layers=2, heads=4, global_attn=(1,), image=128, window=4, prompts=4)
for _name, _arch, _params in [
    ("sam-vit-b", SamArch(hidden=768, layers=12, heads=12, global_attn=(2, 5, 8, 11)), 93.7e6),
    ("sam-vit-l", SamArch(hidden=1024, layers=24, heads=16, global_attn=(5, 11, 17, 23)), 312e6),
    ("sam-vit-h", SamArch(hidden=1280, layers=32, heads=16, global_attn=(7, 15, 23, 31)), 641e6),
]:
    register_workload(Workload(
        name=_name, domain=Domain.VISION, library="transformers",
        description=f"Segment Anything {_name[-1].upper()}: ViT {_arch.layers} layers d={_arch.hidden} at 1024² "
                    f"(windowed 14², {len(_arch.global_attn)} global blocks), prompt encoder, two-way mask decoder; "
                    "64 point prompts per image, focal + dice + IoU loss",
        source=_SRC, build_fn=sam_builder(_arch, _TINY),
        canonical={"full": Size(batch=1), "tiny": Size(batch=1)},
        published_params=_params, published_params_source=_CARDS, params_tolerance=0.005,
        tags=("segmentation",),
    ))
