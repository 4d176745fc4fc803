"""`--kernels production` for MiniMax's lightning attention (model/production_lightning.py)."""

from __future__ import annotations

import polars as pl
import pytest

from trainperf.costs import OpCall, TensorMeta, cost
from trainperf.costs.formulas.linear_attention import LIGHTNING_BACKWARD_KERNELS, LIGHTNING_FORWARD_KERNELS
from trainperf.model import predict_step
from trainperf.model.production import production
from trainperf.model.production_ssm import fuse_scans, naive_rows
from trainperf.opgraph import OpGraph

MIXER = "MiniMaxLightningAttention"


@pytest.fixture(scope="module")
def graph() -> OpGraph:
    from trainperf.capture import capture_workload
    from trainperf.workloads.registry import Size

    # tiny MiniMax (8 heads of 16, blocks of 8, one lightning layer), 64 tokens: 8 blocks per call
    return capture_workload("minimax-text-01", "tiny", size=Size(batch=2, seq=64))


def test_block_loop_becomes_one_fused_forward_and_backward(graph: OpGraph) -> None:
    f, n = fuse_scans(graph)
    own = pl.col("module_type") == MIXER
    assert n == graph.ops.filter(own)["module"].n_unique() == 1
    fused = f.ops.filter(pl.col("op").str.starts_with("trainperf::lightning"))
    assert fused["op"].to_list() == ["trainperf::lightning_attn", "trainperf::lightning_attn_backward"]
    assert fused["covered"].all() and fused["kernels"].to_list() == [LIGHTNING_FORWARD_KERNELS,
                                                                     LIGHTNING_BACKWARD_KERNELS]
    # out: every product and slice gradient of the loop; kept: the gate, the q/k/v split's gradient, and
    # everything outside the module's own rows
    assert f.ops.filter(own & pl.col("op").is_in(["aten::bmm", "aten::slice_backward"])).height == 0
    assert f.ops.filter(own & (pl.col("op") == "aten::sigmoid")).height == 1
    assert f.ops.filter(own & (pl.col("phase") == "bwd") & (pl.col("op") == "aten::cat")).height == 1
    assert f.ops.filter(~own).drop("idx").equals(graph.ops.filter(~own).drop("idx"))
    assert f.ops.height == graph.ops.height - naive_rows(graph).height + 2 * n


def test_fused_shapes_and_work_follow_the_closed_form(graph: OpGraph) -> None:
    f, _ = fuse_scans(graph)
    fwd = f.ops.filter(pl.col("op") == "trainperf::lightning_attn").row(0, named=True)
    bwd = f.ops.filter(pl.col("op") == "trainperf::lightning_attn_backward").row(0, named=True)
    b, h, seq, d, block = 2, 8, 64, 16, 8
    macs = b * h * seq * (block * (d + d) + 2 * d * d)  # MiniMax-01 sec. 2.2.1, per token and head
    assert fwd["flops"] == pytest.approx(2 * macs) and bwd["flops"] == pytest.approx(4 * macs)
    assert fwd["output_shapes"] == [[b, h, seq, d]]
    # the block loop as written does the same products (plus elementwise decays): within 25%
    loop = naive_rows(graph).filter(pl.col("op") == "aten::bmm")["flops"].sum()
    assert loop == pytest.approx(6 * macs, rel=0.25)


def test_fused_step_is_faster_and_production_applies_it(graph: OpGraph) -> None:
    f, _ = fuse_scans(graph)
    assert predict_step(f, "H100-SXM").step_time_s < predict_step(graph, "H100-SXM").step_time_s
    prod = production(graph)
    assert prod.ops.filter(pl.col("op") == "trainperf::lightning_attn").height == 1


def test_formula_bytes_and_gemm_shape() -> None:
    q = TensorMeta((1, 4, 512, 64), "bfloat16")
    c = cost(OpCall("trainperf::lightning_attn", (q, q, q, TensorMeta((4,), "float32"), 128), outputs=(q,)))
    assert c.bytes_read == pytest.approx(3 * q.nbytes + 16) and c.bytes_written == q.nbytes
    assert c.gemm is not None and (c.gemm.m, c.gemm.n, c.gemm.k, c.gemm.batch) == (128, 64, 64, 4 * 4)
    # a block longer than the sequence is the sequence
    short = cost(OpCall("trainperf::lightning_attn", (q, q, q, TensorMeta((4,), "float32"), 4096), outputs=(q,)))
    assert short.flops == pytest.approx(2 * 4 * 512 * (512 * 128 + 2 * 64 * 64))
