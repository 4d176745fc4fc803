import sys
from pathlib import Path

import polars as pl
import pytest

from trainperf.capture import OpGraph, capture_workload
from trainperf.capture.api import capture_module
from trainperf.opgraph import OPGRAPH_SCHEMA
from trainperf.workloads import Size


@pytest.fixture(scope="module")
def tiny_llama() -> OpGraph:
    return capture_workload("llama3.1-8b", "tiny", replicate=False)


def test_schema_and_phases(tiny_llama: OpGraph) -> None:
    ops = tiny_llama.ops
    assert dict(ops.schema) == OPGRAPH_SCHEMA
    assert set(ops["phase"].unique()) == {"fwd", "bwd", "optimizer"}
    assert ops["covered"].all(), ops.filter(~pl.col("covered"))["op"].unique().to_list()
    # the fused optimizer and its step counter are the whole optimizer phase of a steady-state step
    assert sorted(ops.filter(pl.col("phase") == "optimizer")["op"].to_list()) == [
        "aten::_foreach_add_", "aten::_fused_adamw_"]


def test_flops_match_analytic_model_flops(tiny_llama: OpGraph) -> None:
    mm_attn = tiny_llama.ops.filter(pl.col("category").is_in(["matmul", "attention"]))["flops"].sum()
    assert mm_attn == pytest.approx(tiny_llama.meta.model_flops, rel=0.02)


def test_backward_ops_attributed_to_their_modules(tiny_llama: OpGraph) -> None:
    bwd_mm = tiny_llama.ops.filter((pl.col("phase") == "bwd") & (pl.col("category") == "matmul"))
    # every weight/input gradient GEMM belongs to a linear layer, none to the root
    assert bwd_mm.height == 2 * tiny_llama.ops.filter(
        (pl.col("phase") == "fwd") & (pl.col("category") == "matmul")).height
    assert (bwd_mm["module_type"].is_in(["Linear"])).all()
    assert bwd_mm.filter(pl.col("layer") >= 0).height == bwd_mm.height - 2  # lm_head grads outside layers


def test_replicated_capture_equals_full_capture(tiny_llama: OpGraph) -> None:
    rep = capture_workload("llama3.1-8b", "tiny", replicate=True)
    cols = ["op", "phase", "module", "layer", "flops", "bytes_read", "bytes_written", "kernels", "input_shapes"]
    fwd_bwd = pl.col("phase") != "optimizer"
    assert rep.ops.filter(fwd_bwd).select(cols).equals(tiny_llama.ops.filter(fwd_bwd).select(cols))
    assert rep.meta.n_params == tiny_llama.meta.n_params
    assert rep.meta.activation_bytes == tiny_llama.meta.activation_bytes
    opt = pl.col("phase") == "optimizer"
    assert rep.ops.filter(opt)["bytes_read"].sum() == pytest.approx(tiny_llama.ops.filter(opt)["bytes_read"].sum(), rel=1e-3)


def test_full_size_llama_8b_flops_within_2pct() -> None:
    g = capture_workload("llama3.1-8b", "full", Size(batch=1, seq=8192))
    assert g.meta.n_params == pytest.approx(8.030e9, rel=0.01)
    fwd_bwd = g.ops.filter(pl.col("phase") != "optimizer")["flops"].sum()
    # 6·N·tokens + attention (no causal halving): 57.9 GF/token at seq 8192 (notes, Part 3)
    assert fwd_bwd / 8192 == pytest.approx(57.9e9, rel=0.02)
    # memory of the step: bf16 params and grads, two bf16 Adam moments
    assert g.meta.param_bytes == pytest.approx(2 * 8.03e9, rel=0.01)
    assert g.meta.optimizer_state_bytes == pytest.approx(2 * g.meta.param_bytes, rel=0.01)
    assert g.meta.activation_bytes > 10 * 2**30  # 32 layers of saved activations at 8k tokens


def test_parquet_roundtrip(tiny_llama: OpGraph, tmp_path: Path) -> None:
    p = tmp_path / "step.parquet"
    tiny_llama.write_parquet(p)
    back = OpGraph.read_parquet(p)
    assert back.ops.equals(tiny_llama.ops)
    assert back.meta == tiny_llama.meta


def test_version_1_files_read_with_every_gemm_aligned(tiny_llama: OpGraph, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    # a file written before gemm_align existed (schema version 1): priced as it was, every GEMM aligned
    p = tmp_path / "v1.parquet"
    table = tiny_llama.ops.drop("gemm_align").to_arrow()
    pq.write_table(table.replace_schema_metadata({b"trainperf.step_meta": tiny_llama.meta.to_json().encode(),
                                                  b"trainperf.schema_version": b"1"}), str(p))
    back = OpGraph.read_parquet(p)
    assert back.ops.columns[: len(tiny_llama.ops.columns)] == tiny_llama.ops.columns
    gemm = back.ops.filter(pl.col("gemm_m") > 0)
    assert gemm.height > 0 and set(gemm["gemm_align"].to_list()) == {16}
    assert set(back.ops.filter(pl.col("gemm_m") == 0)["gemm_align"].to_list()) == {0}


def test_read_bad_parquet_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.parquet"
    p.write_text("not parquet")
    with pytest.raises(ValueError, match=r"nope\.parquet: not a Parquet OpGraph"):
        OpGraph.read_parquet(p)
    with pytest.raises(FileNotFoundError, match="trainperf capture"):
        OpGraph.read_parquet(tmp_path / "missing.parquet")


def test_capture_module_user_model() -> None:
    import torch

    def make_model() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 10))

    g = capture_module(make_model, lambda: torch.randn(32, 64),
                       lambda m, x: torch.nn.functional.cross_entropy(m(x), torch.zeros(32, dtype=torch.long)),
                       batch=32, dtype="fp32")
    fwd_mm = g.ops.filter((pl.col("phase") == "fwd") & (pl.col("category") == "matmul"))["flops"].sum()
    assert fwd_mm == 2 * 32 * (64 * 128 + 128 * 10)
    assert g.meta.n_params == 64 * 128 + 128 + 128 * 10 + 10
    assert set(g.ops.filter(pl.col("category") == "matmul")["module"]) == {"0", "2"}


def test_torch_not_needed_to_read_a_graph() -> None:
    # the schema module must import without torch (the model and the trace analyzer use it)
    import subprocess

    code = "import sys, trainperf.opgraph, trainperf.costs; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_replicated_capture_scales_gradients_over_trainable_parameters() -> None:
    """wav2vec2-conformer freezes its unused positional conv (outside the repeated blocks): gradients and
    optimizer state of a replicated capture scale by the trainable parameters' ratio, as a full capture has them."""
    full = capture_workload("wav2vec2-conformer-large", "tiny", replicate=False)
    rep = capture_workload("wav2vec2-conformer-large", "tiny", replicate=True)
    assert rep.meta.grad_bytes == pytest.approx(full.meta.grad_bytes, rel=1e-3)
    assert rep.meta.optimizer_state_bytes == pytest.approx(full.meta.optimizer_state_bytes, rel=1e-3)
    assert rep.meta.param_bytes == pytest.approx(full.meta.param_bytes, rel=1e-3)
