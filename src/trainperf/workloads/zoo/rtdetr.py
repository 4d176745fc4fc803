"""RT-DETR R50 (Zhao et al. 2024, arXiv 2304.08069), built as DETR is (detection.py) from transformers'
RTDetrConfig with its own RTDetrResNet backbone (ResNet-50-vd, no timm, no weights) and trained as the RT-DETR
repository trains it: 640x640, 4 images per GPU, the stem frozen, frozen batch norm; the same fixed one-to-one
assignment stands in for its Hungarian matcher, on the six decoder layers and the encoder's top-k proposals; the
contrastive denoising queries keep their static assignment. Scoped stand-ins, each restored on exit:
``_static_denoising`` (a data-dependent ``nonzero`` answered from its known pattern), ``_uncached`` (process-wide
caches of fake tensors) and ``_assume_finite`` (the AIFI layer's host-side finiteness check).

Shares with detection.py (DETR): the ResNet FLOP count, pairwise box IoU/GIoU, the synthetic box batch and the
scoped finiteness stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload
from trainperf.workloads.zoo._common import adamw
from trainperf.workloads.zoo.detection import (
    _assume_finite,
    _corners,
    _side,
    box_batch,
    pairwise_giou,
    pairwise_iou,
    resnet_macs,
)

_RT_SRC = ("Zhao et al. 2024 'DETRs Beat YOLOs on Real-time Object Detection' (arXiv 2304.08069) sec. 4-5; "
           "lyuwenyu/RT-DETR rtdetr_pytorch configs/rtdetr/include/rtdetr_r50vd.yml (PResNet-50 'd', freeze_at 0, "
           "frozen norms; HybridEncoder hidden 256, 1 AIFI layer on S5, FFN 1024, 8 heads; decoder 6 layers, 300 "
           "queries, 100 denoising, 4 points x 3 levels; VFL 1 + L1 5 + GIoU 2) and dataloader.yml (640x640, "
           "batch_size 4 per GPU); PekingU/rtdetr_r50vd config.json (transformers RTDetrConfig defaults, 80 labels)")
RT_TARGETS = 7
"""Target boxes per image, as DETR's TARGETS (COCO 2017 train: 7.3 instances per image)."""


@dataclass(frozen=True, kw_only=True)
class RtDetrArch:
    d_model: int = 256
    enc_ffn: int = 1024
    dec_ffn: int = 1024
    heads: int = 8
    dec_layers: int = 6
    queries: int = 300
    denoising: int = 100
    points: int = 4
    labels: int = 80  # RT-DETR's COCO head: 80 sigmoid classes, no no-object logit
    csp_blocks: int = 3  # RepVGG blocks per CSPRepLayer (transformers RTDetrCSPRepLayer)
    depths: tuple[int, ...] = (3, 4, 6, 3)  # ResNet-50-vd
    widths: tuple[int, ...] = (256, 512, 1024, 2048)
    stem: int = 64

    def config(self) -> Any:
        from transformers import RTDetrConfig, RTDetrResNetConfig

        n = len(self.depths)
        bb: dict[str, Any] = dict(depths=list(self.depths), hidden_sizes=list(self.widths), embedding_size=self.stem,
                                  layer_type="bottleneck", out_features=[f"stage{s}" for s in range(2, n + 1)])
        kw: dict[str, Any] = dict(
            backbone_config=RTDetrResNetConfig(**bb), num_labels=self.labels, d_model=self.d_model,
            encoder_hidden_dim=self.d_model, encoder_in_channels=list(self.widths[1:]),
            decoder_in_channels=[self.d_model] * (n - 1), encoder_ffn_dim=self.enc_ffn,
            decoder_ffn_dim=self.dec_ffn, encoder_attention_heads=self.heads, decoder_attention_heads=self.heads,
            decoder_layers=self.dec_layers, num_queries=self.queries, num_denoising=self.denoising,
            decoder_n_points=self.points)
        return RTDetrConfig(**kw)

    def denoising_queries(self, targets: int) -> int:
        """Contrastive denoising queries: a positive and a negative copy of every target per group, 100 // targets
        groups (transformers get_contrastive_denoising_training_group)."""
        return 2 * targets * max(self.denoising // targets, 1) if self.denoising > 0 and targets > 0 else 0


def _rt_cost_matrix(logits: Any, boxes: Any, tgt_ids: Any, tgt_box: Any, cfg: Any) -> None:
    """The device side of RTDetrHungarianMatcher: focal class cost, L1 ``cdist`` and GIoU over the whole batch, the
    (B*Q, B*N) matrix the host assignment reads."""
    import torch

    with torch.no_grad():
        prob = logits.flatten(0, 1).sigmoid()[:, tgt_ids]
        neg = (1 - cfg.matcher_alpha) * prob ** cfg.matcher_gamma * -(1 - prob + 1e-8).log()
        pos = cfg.matcher_alpha * (1 - prob) ** cfg.matcher_gamma * -(prob + 1e-8).log()
        out_box = boxes.flatten(0, 1)
        cost = (cfg.matcher_bbox_cost * torch.cdist(out_box, tgt_box, p=1) + cfg.matcher_class_cost * (pos - neg)
                - cfg.matcher_giou_cost * pairwise_giou(_corners(out_box), _corners(tgt_box)))
        torch.nan_to_num(cost, nan=1e4, posinf=1e4, neginf=1e4)


def _rt_layer_loss(logits: Any, boxes: Any, tgt_ids: Any, tgt_box: Any, cfg: Any, groups: int, n: int) -> Any:
    """RTDetrLoss's VFL + L1 + GIoU on one output, with query ``2·n·g + j`` matched to target ``j`` of its image for
    each of ``groups`` groups (groups=1, stride n: the fixed one-to-one assignment of the matched outputs; the
    denoising groups' positives sit at these indices, as transformers' get_cdn_matched_indices)."""
    import torch
    import torch.nn.functional as F

    b, q, c = logits.shape
    stride = 2 * n if groups > 1 else q
    num_boxes = b * n * groups

    def matched(x: Any) -> Any:  # (B, Q, ...) -> (B, groups, n, ...): the matched query of every target
        return x[:, :groups * stride].unflatten(1, (groups, stride))[:, :, :n]

    src = matched(boxes).flatten(0, 2)  # (B*groups*n, 4), image-major like the targets tiled per group
    tgt = tgt_box.view(b, 1, n, 4).expand(b, groups, n, 4).flatten(0, 2)
    iou = torch.diag(pairwise_iou(_corners(src.detach()), _corners(tgt))[0])
    target_classes = torch.full((b, q), c, dtype=torch.int64, device=logits.device)
    matched(target_classes).copy_(tgt_ids.view(b, 1, n).expand(b, groups, n))
    target = F.one_hot(target_classes, num_classes=c + 1)[..., :-1]
    score = torch.zeros((b, q), dtype=logits.dtype, device=logits.device)
    matched(score).copy_(iou.to(logits.dtype).view(b, groups, n))
    target_score = score.unsqueeze(-1) * target
    weight = (cfg.focal_loss_alpha * logits.detach().sigmoid().pow(cfg.focal_loss_gamma) * (1 - target)
              + target_score).to(logits.dtype)
    vfl = F.binary_cross_entropy_with_logits(logits, target_score, weight=weight, reduction="none")
    vfl = vfl.mean(1).sum() * q / num_boxes
    l1 = F.l1_loss(src, tgt, reduction="none").sum() / num_boxes
    giou = (1 - torch.diag(pairwise_giou(_corners(src), _corners(tgt)))).sum() / num_boxes
    return cfg.weight_loss_vfl * vfl + cfg.weight_loss_bbox * l1 + cfg.weight_loss_giou * giou


def rtdetr_fixed_assignment_loss(logits: Any, labels: Any, device: Any, pred_boxes: Any, config: Any,
                                 outputs_class: Any = None, outputs_coord: Any = None, enc_topk_logits: Any = None,
                                 enc_topk_bboxes: Any = None, denoising_meta_values: Any = None,
                                 **_: Any) -> tuple[Any, dict, None]:
    """Drop-in for transformers' ``RTDetrForObjectDetectionLoss``: the matched loss on every decoder layer and on the
    encoder's top-k proposals (each with the matcher's device-side cost matrix), and the denoising loss on every
    decoder layer."""
    import torch

    tgt_ids = torch.cat([t["class_labels"] for t in labels])
    tgt_box = torch.cat([t["boxes"] for t in labels])
    b = outputs_class.shape[0]
    n = tgt_ids.shape[0] // b
    dn, q = denoising_meta_values["dn_num_split"] if denoising_meta_values else (0, outputs_class.shape[2])
    dn_cls, cls = outputs_class.split([dn, q], dim=2)
    dn_box, box = outputs_coord.split([dn, q], dim=2)
    outputs = [(cls[:, i], box[:, i]) for i in range(cls.shape[1])] + [(enc_topk_logits, enc_topk_bboxes)]
    loss = 0
    for lg, bx in outputs:
        _rt_cost_matrix(lg, bx, tgt_ids, tgt_box, config)
        loss = loss + _rt_layer_loss(lg, bx, tgt_ids, tgt_box, config, 1, n)
    if dn:
        groups = denoising_meta_values["dn_num_group"]
        for i in range(dn_cls.shape[1]):
            loss = loss + _rt_layer_loss(dn_cls[:, i], dn_box[:, i], tgt_ids, tgt_box, config, groups, n)
    return loss, {}, None


@contextmanager
def _static_denoising(targets: int) -> Iterator[None]:
    """While the block runs, transformers' contrastive denoising group answers its ``torch.nonzero`` of the positive
    mask on fake tensors (a data-dependent size) from the mask's known pattern. Assumption (the synthetic batch
    guarantees it): every image has ``targets`` boxes, so the padding mask is all ones and the positives of image
    ``i`` are the columns ``2·targets·g + j`` (j < targets) of every group g. The library function runs unchanged
    otherwise (its fp32 boxes and mask are cast to the model's dtype); real tensors get the real nonzero; the module
    attribute is restored on exit."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensor
    from torch.overrides import TorchFunctionMode
    from transformers.models.rt_detr import modeling_rt_detr as m

    class StaticNonzero(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func is torch.nonzero and isinstance(args[0], FakeTensor):
                b, width = args[0].shape
                if width % (2 * targets):
                    raise ValueError(f"rt-detr: denoising mask width {width} is not a multiple of 2 x {targets}")
                cols = torch.arange(width).view(-1, 2 * targets)[:, :targets].flatten()
                rows = torch.arange(b).repeat_interleave(cols.shape[0])
                return torch.stack([rows, cols.repeat(b)], dim=1)
            return func(*args, **(kwargs or {}))

    original = m.get_contrastive_denoising_training_group

    def static_group(*args: Any, **kwargs: Any) -> Any:
        with StaticNonzero():
            query_class, query_bbox, attn_mask, meta = original(*args, **kwargs)
        if query_class is None:
            return query_class, query_bbox, attn_mask, meta
        # the library makes the boxes and mask in the default dtype (fp32); a bf16 model casts them as autocast would
        return query_class, query_bbox.to(query_class.dtype), attn_mask.to(query_class.dtype), meta

    m.get_contrastive_denoising_training_group = static_group
    try:
        yield
    finally:
        m.get_contrastive_denoising_training_group = original


@contextmanager
def _uncached() -> Iterator[None]:
    """transformers caches the anchors and the AIFI sine position embedding in process-wide ``lru_cache``s keyed by
    shape, dtype and device: a later capture would be handed the fake tensors of an earlier one (another
    FakeTensorMode), and what is captured would depend on what ran before. While the block runs both are computed
    afresh, as in a first step (a few dozen small elementwise ops on (tokens, 4) and (S5 tokens, d))."""
    from transformers.models.rt_detr import modeling_rt_detr as m

    patched = [(m.RTDetrModel, "_cached_generate_anchors"),
               (m.RTDetrSinePositionEmbedding, "_cached_build_2d_sinusoidal_position_embedding")]
    saved = [(cls, name, cls.__dict__[name]) for cls, name in patched]
    for cls, name, orig in saved:
        setattr(cls, name, staticmethod(orig.__func__.__wrapped__))
    try:
        yield
    finally:
        for cls, name, orig in saved:
            setattr(cls, name, orig)


def rtdetr_loss(model: Any, batch: dict[str, Any]) -> Any:
    dtype = next(model.parameters()).dtype  # a batch built in another dtype follows the model, as under autocast
    labels = [{**t, "boxes": t["boxes"].to(dtype)} for t in batch["labels"]]
    with _assume_finite(), _static_denoising(labels[0]["class_labels"].shape[0]), _uncached():
        return model(pixel_values=batch["pixel_values"].to(dtype), pixel_mask=batch["pixel_mask"], labels=labels).loss


def rtdetr_model_flops(a: RtDetrArch, h: int, w: int, targets: int) -> float:
    """Model FLOPs of one image, fwd+bwd: 2 x multiply-adds x (1 frozen, 2 weight-grad only, 3 trained).

    Backbone ResNet-50-vd with its stem frozen (freeze_at 0); input projections (1x1) of S3-S5; AIFI (one encoder
    layer on the S5 tokens); CCFM: lateral 1x1 convs, 3x3 stride-2 downsampling convs and four CSPRepLayers (two 1x1
    convs from 2d to d, three RepVGG blocks of a 3x3 and a 1x1 conv); decoder input projections; the encoder head on
    all tokens (Linear + class + 3-layer box MLP); six decoder layers on the 300 + denoising queries (query-position
    MLP, self-attention, deformable cross-attention's value projection over all tokens, offset, weight and output
    projections, FFN, class and box heads). Attention as QK^T and PV products; the deformable sampling (bilinear
    ``grid_sample`` and its weighted sum) is not a matmul and not counted."""
    frozen, edge, trained = resnet_macs(a, h, w, deep_stem=True, frozen_stages=0)
    d = a.d_model
    levels = [_side(h, s) * _side(w, s) for s in (3, 4, 5)]  # S3, S4, S5 tokens (strides 8, 16, 32)
    tokens = sum(levels)
    s3, s4, s5 = levels
    enc = sum(c * d * t for c, t in zip(a.widths[1:], levels, strict=True))  # input projections
    enc += 4 * d * d * s5 + 2 * s5 * s5 * d + 2 * d * a.enc_ffn * s5  # AIFI
    csp = (4 * d * d + a.csp_blocks * 10 * d * d)  # per output position
    enc += d * d * (s5 + s4) + csp * (s4 + s3)  # FPN: laterals on S5 and on the new S4, CSP at S4 and S3
    enc += 9 * d * d * (s4 + s5) + csp * (s4 + s5)  # PAN: 3x3 stride-2 convs to S4 and S5, CSP at each
    enc += d * d * tokens  # decoder input projections
    enc += tokens * (d * d + d * a.labels + 2 * d * d + 4 * d)  # enc_output, enc_score_head, enc_bbox_head
    nq = a.queries + a.denoising_queries(targets)
    samples = a.heads * len(levels) * a.points
    per_query = (4 * 2 * d + 2 * d * d  # query_pos_head
                 + 4 * d * d + 2 * nq * d  # self-attention projections, QK^T and PV
                 + d * 3 * samples + d * d  # sampling offsets (x, y) and weights, output projection
                 + 2 * d * a.dec_ffn + d * a.labels + 2 * d * d + 4 * d)  # FFN, class and box heads
    dec = a.dec_layers * (nq * per_query + d * d * tokens)  # + value projection over all tokens
    return 2.0 * (frozen + 2 * edge + 3 * (trained + enc + dec))


def _make_rtdetr(cfg: Any) -> Any:
    from transformers import RTDetrForObjectDetection

    model = RTDetrForObjectDetection(cfg)
    # PResNet freeze_at 0: the stem's parameters are frozen (its norms, like every backbone norm, are frozen BN)
    for p in model.model.backbone.model.embedder.parameters():
        p.requires_grad_(False)
    model.loss_function = rtdetr_fixed_assignment_loss
    return model


def rtdetr_builder(full: RtDetrArch, tiny: RtDetrArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None and size.image_size is not None
        b, h = size.batch, size.image_size
        if h < 32 or _side(h, 3) ** 2 + _side(h, 4) ** 2 + _side(h, 5) ** 2 < a.queries:
            raise ValueError(f"rt-detr: image_size {h} gives fewer stride-8/16/32 tokens than the {a.queries} "
                             f"queries the encoder selects; use image_size >= 32 with enough tokens (640 trains)")
        cfg = a.config()
        n = RT_TARGETS if flavor == "full" else 3

        tokens = sum(_side(h, s) ** 2 for s in (3, 4, 5))
        return Built(make_model=lambda: _make_rtdetr(cfg), make_batch=lambda: box_batch(b, n, a.labels, h, h),
                     loss=rtdetr_loss,
                     make_optimizer=adamw, batch=b, seq=None, samples_per_step=b, tokens_per_step=b * tokens,
                     unit="sample", model_flops=b * rtdetr_model_flops(a, h, h, n))

    return build


RTDETR_R50 = RtDetrArch()
_TINY_RT = RtDetrArch(d_model=32, enc_ffn=64, dec_ffn=64, heads=4, dec_layers=2, queries=20, denoising=12, labels=5,
                      csp_blocks=1, depths=(1, 1, 1, 1), widths=(32, 64, 128, 256), stem=16)
register_workload(Workload(
    name="rt-detr-r50", domain=Domain.VISION, library="transformers",
    description="RT-DETR R50: ResNet-50-vd (frozen BN, stem frozen) at 640x640, hybrid encoder (one AIFI layer on the "
                "20x20 S5 map, CCFM fusion at strides 8-32, d=256), 6-layer deformable decoder on 300 queries + "
                f"denoising groups; VFL + 5 L1 + 2 GIoU on all decoder layers, the encoder proposals and the "
                f"denoising queries, with a fixed one-to-one assignment of {RT_TARGETS} boxes per image (the Hungarian "
                "matching is host-side scipy, not in the step)",
    source=_RT_SRC, build_fn=rtdetr_builder(RTDETR_R50, _TINY_RT),
    canonical={"full": Size(batch=4, image_size=640), "tiny": Size(batch=2, image_size=64)},
    published_params=43e6,
    published_params_source="PekingU/rtdetr_r50vd model.safetensors: 172 MB in fp32 (43 M tensors, frozen-BN buffers "
                            "included); Zhao et al. 2024 Table 1 rounds to 42 M",
    train_flops_per_unit=rtdetr_model_flops(RTDETR_R50, 640, 640, RT_TARGETS),
    train_flops_source="analytic: ResNet-50-vd conv multiply-adds at 640x640 (stem forward only) + hybrid encoder "
                       "convs, AIFI and decoder matmuls and attention, x2 x3 (detection.rtdetr_model_flops)",
    fake_note="Hungarian matching replaced by a fixed assignment (rtdetr_fixed_assignment_loss); the denoising "
              "group's nonzero answered from its static pattern (detection._static_denoising)",
    tags=("detection",),
))
