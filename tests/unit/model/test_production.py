"""`--kernels production` (model/production.py): unfused attention rewritten as flash attention."""

import polars as pl
import pytest

from trainperf.capture import capture_workload
from trainperf.model import predict_step, predict_workload
from trainperf.model.api import default_kernels
from trainperf.model.production import Kernels, causal_attention, fuse_attention


@pytest.fixture(scope="module")
def bert() -> object:
    return capture_workload("bert-base", "tiny")


def test_each_unfused_call_becomes_one_flash_forward_and_backward(bert: object) -> None:
    g = bert
    ops = g.ops  # type: ignore[attr-defined]
    core = pl.col("module").str.ends_with("attention.self")
    fused, n = fuse_attention(g)  # type: ignore[arg-type]
    layers = ops.filter(core & (pl.col("op") == "aten::_safe_softmax"))["module"].n_unique()
    assert n == layers == 2
    att = fused.ops.filter(core & (pl.col("category") == "attention"))
    assert att["op"].to_list() == ["aten::_scaled_dot_product_flash_attention"] * 2 + \
        ["aten::_scaled_dot_product_flash_attention_backward"] * 2
    # what is left of the cores is a layout copy the backward runs apart from the attention's own run
    assert set(fused.ops.filter(core & (pl.col("category") != "attention"))["category"]) <= {"copy"}
    # the fused forward does exactly the two products the unfused one ran (QK^T and PV)
    products = ops.filter(core & (pl.col("phase") == "fwd") & (pl.col("op") == "aten::bmm"))["flops"].sum()
    assert att.filter(pl.col("phase") == "fwd")["flops"].sum() == pytest.approx(products)
    assert not att["attn_causal"].any() and att["attn_backward"].to_list() == [False, False, True, True]
    # nothing outside the attention cores moves
    assert fused.ops.filter(~core).drop("idx").equals(ops.filter(~core).drop("idx"))
    assert fused.ops["idx"].to_list() == list(range(fused.ops.height))


def test_sdpa_models_are_left_as_written() -> None:
    g = capture_workload("llama3.2-1b", "tiny")
    same, n = fuse_attention(g, causal=True)
    assert n == 0 and same is g


def test_long_eager_attention_is_much_faster_fused() -> None:
    g = capture_workload("gpt-oss-20b", "tiny")
    fused, n = fuse_attention(g, causal=causal_attention("gpt-oss-20b"))
    assert n > 0 and fused.ops.filter(pl.col("category") == "attention")["attn_causal"].all()
    assert predict_step(fused, "H100-SXM").step_time_s < predict_step(g, "H100-SXM").step_time_s


def test_predict_takes_the_kernels_choice() -> None:
    a = predict_workload("bert-base", "H100-SXM", flavor="tiny", kernels="as-written")
    b = predict_workload("bert-base", "H100-SXM", flavor="tiny", kernels="production")
    assert a.step_time_s != b.step_time_s and a.kernels == "as-written" and a.as_written_step_s is None
    assert b.kernels == "production" and b.as_written_step_s == a.step_time_s  # the comparison comes along
    auto = predict_workload("bert-base", "H100-SXM", flavor="tiny")  # a zoo workload: production by default
    assert auto.kernels == "production" and auto.step_time_s == b.step_time_s
    assert default_kernels("bert-base") is Kernels.PRODUCTION
    assert default_kernels("my_model.py:build") is Kernels.AS_WRITTEN  # your own model: priced as written
    with pytest.raises(ValueError, match="--kernels 'fast': choose one of as-written, production"):
        predict_workload("bert-base", "H100-SXM", flavor="tiny", kernels="fast")
    assert causal_attention("llama3.1-8b") and not causal_attention("bert-base") and not causal_attention("x.py:f")


def test_sparse_embedding_tables_update_only_the_rows_looked_up() -> None:
    from trainperf.model.production import ROWWISE_STATE_BYTES, sparse_embeddings

    g = capture_workload("dlrmv2-dcnv2", "tiny")
    f, n = sparse_embeddings(g)
    fwd = g.ops.filter(pl.col("op") == "aten::_embedding_bag")
    assert n == fwd.height == 26
    fused = f.ops.filter(pl.col("op") == "fbgemm::split_embedding_backward_rowwise_adagrad")
    assert fused.height == 26 and not f.ops["op"].is_in(["aten::_embedding_bag_backward"]).any()
    # written: each lookup's row (weight + one momentum) - far less than a dense table gradient
    first = fwd.row(0, named=True)
    lookups, dim = first["input_shapes"][1][0], first["input_shapes"][0][1]
    wbytes = {"bfloat16": 2, "float32": 4}[first["input_dtypes"][0]]
    assert lookups * (dim * wbytes + ROWWISE_STATE_BYTES) in set(fused["bytes_written"].to_list())
    opt = lambda gr: gr.ops.filter(pl.col("phase") == "optimizer")["bytes_read"].sum()  # noqa: E731
    assert opt(f) < 0.5 * opt(g)  # the tables' share of the dense update is gone, the MLPs' stays
    assert opt(f) > 0
    # memory: no dense table gradient; rowwise state (one fp32 per row) instead of Adagrad's per-element sum
    assert f.meta.grad_bytes < 0.5 * g.meta.grad_bytes and f.meta.optimizer_state_bytes < g.meta.optimizer_state_bytes
    _, none = sparse_embeddings(capture_workload("llama3.2-1b", "tiny"))  # token embeddings stay dense
    assert none == 0
