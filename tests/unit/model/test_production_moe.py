"""`--kernels production` (model/production_moe.py): Llama 4's all-experts products -> routed grouped GEMMs."""

import polars as pl
import pytest

from trainperf.capture import capture_workload
from trainperf.model import predict_step
from trainperf.model.production import production
from trainperf.model.production_moe import route_experts
from trainperf.opgraph import OpGraph


@pytest.fixture(scope="module")
def scout() -> OpGraph:
    return capture_workload("llama4-scout-17b-16e", "tiny")


def _experts(g: OpGraph) -> pl.DataFrame:
    return g.ops.filter(pl.col("module_type") == "Llama4TextExperts")


def test_all_experts_products_become_routed_grouped_gemms(scout: OpGraph) -> None:
    out, layers = route_experts(scout)
    topk = scout.ops.filter(pl.col("op") == "aten::topk").row(0, named=True)
    (tokens, experts), k = topk["input_shapes"][0], topk["output_shapes"][0][-1]
    assert layers == scout.ops.filter(pl.col("op") == "aten::topk")["layer"].n_unique() > 0
    before, after = _experts(scout), _experts(out)
    assert not after["op"].is_in(["aten::bmm"]).any()
    gemms = after.filter(pl.col("op") == "aten::_grouped_mm")
    assert gemms.height == before.filter(pl.col("op") == "aten::bmm").height  # 1 per forward, 2 per backward
    fwd = gemms.filter(pl.col("phase") == "fwd")
    assert (fwd["input_shapes"].list.get(0).list.get(0) == tokens * k).all()  # routed tokens only
    # every FLOP of the experts' products and elementwise work shrinks to the routed share k / E
    assert after["flops"].sum() == pytest.approx(before["flops"].sum() * k / experts, rel=1e-9)
    # the rest of the step is untouched, row for row
    rest = ~pl.col("module").str.contains("feed_forward")
    cols = ["op", "phase", "module", "flops", "bytes_read", "bytes_written"]
    assert out.ops.filter(rest).select(cols).equals(scout.ops.filter(rest).select(cols))


def test_production_applies_it_and_the_gpu_does_less(scout: OpGraph) -> None:
    prod = production(scout, causal=True)
    assert not _experts(prod)["op"].is_in(["aten::bmm"]).any()
    assert predict_step(prod, "H100-SXM").gpu_busy_s < predict_step(scout, "H100-SXM").gpu_busy_s


def test_models_without_all_experts_modules_are_left_alone() -> None:
    g = capture_workload("mixtral-8x7b", "tiny")  # transformers runs it as _grouped_mm already
    out, n = route_experts(g)
    assert n == 0 and out is g
