"""DETR ResNet-50 and Qwen2.5-VL 7B: pinned built counts, the recipe's loss in the captured step, FLOPs against
the analytic and published references, a real tiny CPU step, and the size checks."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from zoo_helpers import count_params, meta_model

from trainperf.capture import capture_workload
from trainperf.workloads import get_workload
from trainperf.workloads.registry import Size
from trainperf.workloads.zoo import detection, vlm_qwen

# exact counts of the built modules (transformers 5.24): a library upgrade that changes an architecture shows here
BUILT = {"detr-resnet-50": 41_524_768, "qwen2.5-vl-7b": 8_292_166_656}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_counts_are_pinned(name: str) -> None:
    _, model = meta_model(name)
    assert count_params(model) == BUILT[name]


def test_detr_trains_resnet_layer2_to_4_only() -> None:
    """DETR's backbone.py: stem and layer1 frozen; transformers' own freeze would leave every backbone weight
    frozen (detection module docstring)."""
    _, model = meta_model("detr-resnet-50")
    stages = model.model.backbone.model.encoder.stages
    assert not any(p.requires_grad for p in model.model.backbone.model.embedder.parameters())
    assert [all(p.requires_grad for p in s.parameters()) for s in stages] == [False, True, True, True]
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trained == 41_302_368


def test_resnet50_macs_match_the_published_count() -> None:
    """4.09 G multiply-adds at 224² (He et al. 2016 Table 1: 3.8 G FLOPs-as-MACs, torchvision 4.09 G with the
    2 M of the classifier the backbone lacks)."""
    assert sum(detection.resnet_macs(detection.DETR_R50, 224, 224)) == pytest.approx(4.09e9 - 2.05e6, rel=0.002)


@pytest.fixture(scope="module")
def detr_full() -> object:
    return capture_workload("detr-resnet-50", "full")


def test_detr_loss_is_in_the_captured_step(detr_full: object) -> None:
    ops = detr_full.ops  # type: ignore[attr-defined]
    fwd, bwd = ops.filter(pl.col("phase") == "fwd"), ops.filter(pl.col("phase") == "bwd")
    # the matcher's L1 cost matrix (device side of HungarianMatcher), once per decoder layer
    assert fwd.filter(pl.col("op") == "aten::_cdist_forward").height == 6
    # CE on all six decoder layers, and its backward
    assert fwd.filter(pl.col("op").str.contains("nll_loss")).height == 6
    assert bwd.filter(pl.col("op").str.contains("nll_loss.*backward")).height == 6
    # GIoU on the matched pairs (the diagonal of the pairwise matrix, as transformers takes it) and L1, differentiated
    assert fwd.filter(pl.col("op") == "aten::diagonal_copy").height == 6
    assert bwd.filter(pl.col("op") == "aten::diagonal_backward").height == 6
    assert bwd.filter(pl.col("op") == "aten::sgn").height == 6
    assert bwd.filter(pl.col("op") == "aten::_cdist_backward").height == 0  # the matcher runs under no_grad


def test_detr_flops_match_analytic_and_the_paper(detr_full: object) -> None:
    """Captured conv + matmul + attention FLOPs per image against ``detr_model_flops`` (2%), and the forward against
    the paper's 86 G (fvcore multiply-adds, averaged over COCO val images resized to a short side of 800): our
    800x1333 is the largest such image, so its forward is above 86 G, and 800x1066 (4:3) is below."""
    g = detr_full  # type: ignore[assignment]
    mm = g.ops.filter(pl.col("category").is_in(["conv", "matmul", "attention"]))  # type: ignore[attr-defined]
    per_image = float(mm.filter(pl.col("phase") != "optimizer")["flops"].sum()) / 4
    assert per_image == pytest.approx(detection.detr_model_flops(detection.DETR_R50, 800, 1333), rel=0.02)
    fwd_macs = float(mm.filter(pl.col("phase") == "fwd")["flops"].sum()) / 4 / 2
    a = detection.DETR_R50
    # the transformer at 25 x 34: encoder 6 x 850 tokens x ~1.8 M multiply-adds, input projection and decoder ~1.3 G
    small = sum(detection.resnet_macs(a, 800, 1066)) + 11e9
    assert small < 86e9 < fwd_macs < 1.25 * 86e9


def test_qwen_matmul_params_match_the_meta_build() -> None:
    _, model = meta_model("qwen2.5-vl-7b")

    def linear(mod: torch.nn.Module) -> int:
        return sum(m.weight.numel() for m in mod.modules() if isinstance(m, torch.nn.Linear))

    vis = model.model.visual
    assert vlm_qwen.matmul_params(vlm_qwen._TEXT, vlm_qwen._VISION) == (
        linear(model.model.language_model) + linear(model.lm_head), linear(vis.blocks), linear(vis.merger),
        vis.patch_embed.proj.weight.numel())


def test_qwen_capture_has_window_and_full_attention_and_text_loss() -> None:
    g = capture_workload("qwen2.5-vl-7b", "full")
    ops = g.ops
    attn = ops.filter((pl.col("phase") == "fwd") & (pl.col("category") == "attention"))
    vis = attn.filter(pl.col("module").str.starts_with("model.visual.blocks."))
    assert vis.height == 32 and attn.height == 32 + 28
    assert g.meta.n_params == BUILT["qwen2.5-vl-7b"]
    assert ops.filter((pl.col("phase") == "bwd") & pl.col("op").str.contains("nll_loss.*backward")).height == 1
    assert ops.filter(pl.col("op") == "aten::masked_scatter").height == 1  # image features into the sequence
    mm = ops.filter((pl.col("phase") != "optimizer") & pl.col("category").is_in(["conv", "matmul", "attention"]))
    w = get_workload("qwen2.5-vl-7b")
    assert float(mm["flops"].sum()) == pytest.approx(w.build("full").model_flops, rel=0.01)
    assert w.build("full").model_flops / 8192 == pytest.approx(52.8e9, rel=0.01)  # 6 x 7.07 B + attention + ViT


def test_qwen_equal_windows_matches_the_split_path() -> None:
    """The batched window attention computes what transformers' per-window loop computes, on real tensors."""
    w = get_workload("qwen2.5-vl-7b")
    built = w.build("tiny")
    torch.manual_seed(0)
    model = built.make_model().eval()
    batch = built.make_batch()
    vis = model.model.visual
    with torch.no_grad():
        ref = vis(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
        with vlm_qwen.equal_windows():
            got = vis(batch["pixel_values"], grid_thw=batch["image_grid_thw"], **batch["vision_kwargs"]).pooler_output
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_tiny_real_step_on_cpu(name: str) -> None:
    built = get_workload(name).build("tiny")
    torch.manual_seed(0)
    model = built.make_model()
    opt = built.make_optimizer(model.parameters())
    before = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
    loss = built.loss(model, built.make_batch())
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[k], p) for k, p in model.named_parameters() if k in before)


def test_bad_sizes_name_the_numbers() -> None:
    with pytest.raises(ValueError, match="multiple of the 112 px"):
        get_workload("qwen2.5-vl-7b").build("full", Size(image_size=500))
    with pytest.raises(ValueError, match="seq >= 258"):
        get_workload("qwen2.5-vl-7b").build("full", Size(seq=100))
    with pytest.raises(ValueError, match="no seq"):
        get_workload("detr-resnet-50").build("full", Size(seq=10))
