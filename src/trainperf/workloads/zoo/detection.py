"""DETR ResNet-50 (Carion et al. 2020, arXiv 2005.12872): a ResNet-50 backbone (frozen batch norm), a 6+6-layer
transformer encoder-decoder (d=256, 8 heads, FFN 2048) over the stride-32 feature map, 100 object queries, class
and box heads. transformers DetrForObjectDetection with a transformers ResNetConfig backbone, random init.

Training step as the paper trains it (sec. 4 and appendix A.4): 4 images per GPU (64 over 16 V100s) resized to a
short side of 800 (long side at most 1333), backbone stem and res2 frozen, layer2-4 trained (lr 1e-5) with the
transformer; loss on every decoder layer's output (auxiliary decoding losses) = CE (no-object weight 0.1) + 5 x L1
+ 2 x GIoU on the matched boxes.

Two things differ from calling the model with ``labels``, both visible in the capture:
- The Hungarian matching (``scipy.optimize.linear_sum_assignment``) runs on the host over a cost matrix copied
  from the device; it cannot run on fake tensors (nor without scipy). The recipe's loss
  (``fixed_assignment_loss``, installed as the model's ``loss_function``) computes the device side of the
  matcher as transformers does (softmax, L1 ``cdist``, pairwise GIoU over the whole batch) and then uses a fixed
  one-to-one assignment, target j <- query j, of ``TARGETS`` boxes per image; the losses are then computed as
  transformers' ``ImageLoss`` does. Same ops and shapes as a real step; the host-side assignment (a few ms per
  image and decoder layer on the CPU) and its device-to-host copy are not in the captured step.
- transformers freezes the backbone by matching "stage.1"-"stage.3" against ResNetBackbone parameter names
  ("encoder.stages.1..."), which never match, so its non-timm DETR trains no backbone weight; the recipe
  unfreezes stages 1-3 (ResNet layer2-4), as the DETR repository's ``backbone.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw

_SRC = ("Carion et al. 2020 'End-to-End Object Detection with Transformers' (arXiv 2005.12872) sec. 4, appendix "
        "A.4; facebook/detr-resnet-50 config.json (num_queries 100, d_model 256, 6+6 layers, FFN 2048, 91 labels)")
TARGETS = 7
"""Target boxes per image: COCO 2017 train has 860,001 instance annotations on 118,287 images (7.3 per image)."""
LONG_OVER_SHORT = 1333 / 800
"""The long side at the paper's resize: short side 800, long side at most 1333 (DETR appendix A.4)."""


@dataclass(frozen=True, kw_only=True)
class DetrArch:
    d_model: int = 256
    layers: int = 6
    heads: int = 8
    ffn: int = 2048
    queries: int = 100
    labels: int = 91  # COCO category ids go to 90: num_classes = 91, plus one no-object logit
    depths: tuple[int, ...] = (3, 4, 6, 3)  # ResNet-50
    widths: tuple[int, ...] = (256, 512, 1024, 2048)
    stem: int = 64

    def config(self) -> Any:
        from transformers import DetrConfig, ResNetConfig

        # typed Any: the config classes' stubs omit the PreTrainedConfig/backbone keywords they accept
        bb: dict[str, Any] = dict(depths=list(self.depths), hidden_sizes=list(self.widths),
                                  embedding_size=self.stem, layer_type="bottleneck",
                                  out_features=[f"stage{len(self.depths)}"])
        kw: dict[str, Any] = dict(
            use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=ResNetConfig(**bb),
            num_labels=self.labels, num_queries=self.queries, d_model=self.d_model, encoder_layers=self.layers,
            decoder_layers=self.layers, encoder_attention_heads=self.heads, decoder_attention_heads=self.heads,
            encoder_ffn_dim=self.ffn, decoder_ffn_dim=self.ffn, auxiliary_loss=True)
        cfg = DetrConfig(**kw)
        return cfg


def _corners(b: Any) -> Any:
    """(cx, cy, w, h) -> (x0, y0, x1, y1)."""
    import torch

    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def pairwise_iou(a: Any, b: Any) -> tuple[Any, Any]:
    """IoU and union area of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), corner format (transformers'
    ``box_iou``)."""
    import torch

    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inter_wh = (torch.min(a[:, None, 2:], b[:, 2:]) - torch.max(a[:, None, :2], b[:, :2])).clamp(min=0)
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    union = area_a[:, None] + area_b - inter
    return inter / union, union


def pairwise_giou(a: Any, b: Any) -> Any:
    """Generalized IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), corner format: transformers'
    ``generalized_box_iou`` without its data-dependent validity check."""
    import torch

    iou, union = pairwise_iou(a, b)
    hull_wh = (torch.max(a[:, None, 2:], b[:, 2:]) - torch.min(a[:, None, :2], b[:, :2])).clamp(min=0)
    hull = hull_wh[..., 0] * hull_wh[..., 1]
    return iou - (hull - union) / hull


def _layer_loss(logits: Any, boxes: Any, labels: list[dict[str, Any]], cfg: Any) -> Any:
    """One decoder layer's DETR loss: the device side of HungarianMatcher, then ImageLoss's CE + L1 + GIoU on the
    fixed assignment (module docstring)."""
    import torch
    import torch.nn.functional as F

    b, q, c1 = logits.shape
    tgt_ids = torch.cat([t["class_labels"] for t in labels])
    tgt_box = torch.cat([t["boxes"] for t in labels])
    n = tgt_ids.shape[0] // b
    with torch.no_grad():  # HungarianMatcher.forward: the (B*Q, B*N) cost matrix the host assignment reads
        prob = logits.flatten(0, 1).softmax(-1)
        out_box = boxes.flatten(0, 1)
        cost = (cfg.bbox_cost * torch.cdist(out_box, tgt_box, p=1) - cfg.class_cost * prob[:, tgt_ids]
                - cfg.giou_cost * pairwise_giou(_corners(out_box), _corners(tgt_box)))
        torch.nan_to_num(cost, nan=1e4, posinf=1e4, neginf=1e4)
    weight = torch.ones(c1, dtype=logits.dtype, device=logits.device)
    weight[-1] = cfg.eos_coefficient
    target_classes = torch.full((b, q), c1 - 1, dtype=torch.int64, device=logits.device)
    target_classes[:, :n] = tgt_ids.view(b, n)
    ce = F.cross_entropy(logits.transpose(1, 2), target_classes, weight)
    src = boxes[:, :n].flatten(0, 1)
    num_boxes = max(b * n, 1)
    l1 = F.l1_loss(src, tgt_box, reduction="none").sum() / num_boxes
    giou = (1 - torch.diag(pairwise_giou(_corners(src), _corners(tgt_box)))).sum() / num_boxes
    return ce + cfg.bbox_loss_coefficient * l1 + cfg.giou_loss_coefficient * giou


def fixed_assignment_loss(logits: Any, labels: Any, device: Any, pred_boxes: Any, config: Any,
                          outputs_class: Any = None, outputs_coord: Any = None, **_: Any) -> tuple[Any, dict, None]:
    """Drop-in for transformers' ``ForObjectDetectionLoss``: the final layer plus the auxiliary decoder layers."""
    loss = _layer_loss(logits, pred_boxes, labels, config)
    if config.auxiliary_loss:
        for cls, box in zip(outputs_class[:-1], outputs_coord[:-1], strict=True):
            loss = loss + _layer_loss(cls, box, labels, config)
    return loss, {}, None


def _assume_finite() -> Any:
    """A torch-function mode that answers ``bool(torch.isfinite(x).all())`` with True on fake tensors only: each
    training-mode DetrEncoderLayer asks it (a device-to-host sync per layer on a GPU), and fake tensors hold no
    values. The isfinite and all ops still run and are captured; real tensors are answered by their values."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensor
    from torch.overrides import TorchFunctionMode

    checks = {torch.isfinite, torch.Tensor.isfinite}
    reductions = {torch.all, torch.Tensor.all}

    class AssumeFinite(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            marked = bool(args) and getattr(args[0], "_trainperf_isfinite", False)
            if func is torch.Tensor.__bool__ and marked and isinstance(args[0], FakeTensor):
                return True
            out = func(*args, **(kwargs or {}))
            if func in checks or (func in reductions and marked):
                out._trainperf_isfinite = True
            return out

    return AssumeFinite()


def detr_loss(model: Any, batch: dict[str, Any]) -> Any:
    with _assume_finite():
        return model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"], labels=batch["labels"]).loss


class ResNetShape(Protocol):
    """What resnet_macs reads of an architecture (DETR's, RT-DETR's in rtdetr.py)."""

    @property
    def stem(self) -> int: ...
    @property
    def depths(self) -> tuple[int, ...]: ...
    @property
    def widths(self) -> tuple[int, ...]: ...


def box_batch(b: int, n: int, labels: int, h: int, w: int) -> dict[str, Any]:
    """A synthetic detection batch: b images of h x w, n boxes each (centre, size) with class labels in [0, labels)."""
    import torch

    wh = torch.rand(b, n, 2) * 0.3 + 0.05
    centre = torch.rand(b, n, 2) * 0.5 + 0.25
    targets = [{"class_labels": torch.randint(0, labels, (n,)), "boxes": torch.cat([centre[i], wh[i]], -1)}
               for i in range(b)]
    return {"pixel_values": torch.randn(b, 3, h, w), "pixel_mask": torch.ones(b, h, w, dtype=torch.long),
            "labels": targets}


def _side(h: int, times: int) -> int:
    for _ in range(times):
        h = (h + 1) // 2  # a stride-2 conv or pool with "same" padding rounds up
    return h


def resnet_macs(a: ResNetShape, h: int, w: int, *, deep_stem: bool = False,
                frozen_stages: int = 1) -> tuple[float, float, float]:
    """Forward multiply-adds of the ResNet backbone at h x w: (frozen stem + the first ``frozen_stages`` stages, the
    convs of the first trained block that read the frozen part (their input gets no gradient), the rest of the
    trained stages). ``deep_stem``: ResNet-D's three 3x3 convs (c/2, c/2, c) in place of the 7x7 (He et al. 2019,
    arXiv 1812.01187 sec. 4.1); its avg-pool shortcut has the same 1x1 conv at the output resolution."""
    oh, ow = _side(h, 1), _side(w, 1)
    c = a.stem
    stem = 9 * (3 * c // 2 + (c // 2) ** 2 + c // 2 * c) if deep_stem else 7 * 7 * 3 * c
    frozen, edge, trained = float(stem * oh * ow), 0.0, 0.0
    oh, ow, c_in = _side(oh, 1), _side(ow, 1), a.stem  # max pool
    for s, (depth, out) in enumerate(zip(a.depths, a.widths, strict=True)):
        mid = out // 4
        for i in range(depth):
            sh, sw = (_side(oh, 1), _side(ow, 1)) if i == 0 and s > 0 else (oh, ow)
            reads = c_in * mid * oh * ow + (c_in * out * sh * sw if i == 0 else 0)  # 1x1 in, shortcut
            rest = 9 * mid * mid * sh * sw + mid * out * sh * sw
            if s < frozen_stages:
                frozen += reads + rest
            elif s == frozen_stages and i == 0:
                edge, trained = edge + reads, trained + rest
            else:
                trained += reads + rest
            oh, ow, c_in = sh, sw, out
    return frozen, edge, trained


def detr_model_flops(a: DetrArch, h: int, w: int) -> float:
    """Model FLOPs of one image, fwd+bwd: 2 x multiply-adds x (1 frozen, 2 weight-grad only, 3 trained). The
    transformer: input projection, encoder (S tokens) and decoder (Q queries attending to S), heads on the six
    decoder outputs; attention as QK^T and PV products, no masking."""
    frozen, edge, trained = resnet_macs(a, h, w)
    s, d, q, f = _side(h, 5) * _side(w, 5), a.d_model, a.queries, a.ffn
    enc = a.layers * (4 * d * d * s + 2 * s * s * d + 2 * d * f * s)
    dec = a.layers * (4 * d * d * q + 2 * q * q * d + 2 * d * d * q + 2 * d * d * s + 2 * q * s * d + 2 * d * f * q)
    heads = a.layers * q * (d * (a.labels + 1) + 2 * d * d + 4 * d)
    transformer = a.widths[-1] * d * s + enc + dec + heads
    return 2.0 * (frozen + 2 * edge + 3 * (trained + transformer))


def _make(cfg: Any) -> Any:
    from transformers import DetrForObjectDetection

    model = DetrForObjectDetection(cfg)
    backbone = model.model.backbone.model
    for s in range(1, len(cfg.backbone_config.depths)):  # ResNet layer2-4 train (DETR backbone.py)
        for p in backbone.encoder.stages[s].parameters():
            p.requires_grad_(True)
    model.loss_function = fixed_assignment_loss
    return model


def detr_builder(full: DetrArch, tiny: DetrArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        b, h = size.batch, size.image_size
        w = round(h * LONG_OVER_SHORT)
        cfg = a.config()
        n = TARGETS if flavor == "full" else 3

        tokens = _side(h, 5) * _side(w, 5)
        return Built(make_model=lambda: _make(cfg), make_batch=lambda: box_batch(b, n, a.labels, h, w), loss=detr_loss, make_optimizer=adamw,
                     batch=b, seq=None, samples_per_step=b, tokens_per_step=b * tokens, unit="sample",
                     model_flops=b * detr_model_flops(a, h, w))

    return build


DETR_R50 = DetrArch()
_TINY = DetrArch(d_model=32, layers=2, heads=4, ffn=64, queries=10, labels=5, depths=(1, 1, 1, 1),
                 widths=(32, 64, 128, 256), stem=16)
register_workload(Workload(
    name="detr-resnet-50", domain=Domain.VISION, library="transformers",
    description="DETR ResNet-50: frozen-BN ResNet-50 (layer2-4 trained) at 800x1333, 6+6-layer transformer d=256 "
                "over the 25x42 feature map, 100 queries; CE + 5 L1 + 2 GIoU on all 6 decoder layers with a fixed "
                f"one-to-one assignment of {TARGETS} boxes per image (the Hungarian matching itself is host-side "
                "scipy, not in the step)",
    source=_SRC, build_fn=detr_builder(DETR_R50, _TINY),
    canonical={"full": Size(batch=4, image_size=800), "tiny": Size(batch=2, image_size=64)},
    published_params=41e6, published_params_source="Carion et al. 2020 Table 1 and the facebook/detr-resnet-50 "
                                                   "model card: 41M parameters",
    train_flops_per_unit=detr_model_flops(DETR_R50, 800, 1333),
    train_flops_source="analytic: ResNet-50 conv multiply-adds at 800x1333 (frozen stem and layer1 forward only) "
                       "+ DETR transformer matmuls and attention, x2 x3 (detection.detr_model_flops)",
    tags=("detection",),
))
