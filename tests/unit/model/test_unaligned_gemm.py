"""GEMMs whose leading dimensions are not 16-byte multiples: the alignment each op records (costs), what
capture and traces give it, and the slower kernels the model prices them at (model/ops.py)."""

from pathlib import Path

import polars as pl
import pytest

from trainperf.costs import OpCall, TensorMeta, cost
from trainperf.costs.formulas.matmul import gemm_align, leading_dim
from trainperf.model import op_times

BF16 = "bfloat16"


def test_leading_dim_row_column_major_and_vectors() -> None:
    assert leading_dim(TensorMeta((141, 512), BF16, (512, 1))) == 512
    assert leading_dim(TensorMeta((512, 30522), BF16, (1, 512))) == 512  # weight.t(): column-major
    assert leading_dim(TensorMeta((30522, 141), BF16, (1, 30522))) == 30522  # grad.t() in the weight gradient
    assert leading_dim(TensorMeta((141, 30522), BF16)) == 30522  # unknown strides read as contiguous
    assert leading_dim(TensorMeta((1, 30522), BF16)) is None  # a vector: no constraint


@pytest.mark.parametrize(("n", "dtype", "align"), [(30528, BF16, 16), (30522, BF16, 4), (50257, BF16, 2),
                                                   (30522, "float32", 8), (50257, "float32", 4),
                                                   (50257, "float8_e4m3fn", 1)])
def test_gemm_align_is_the_narrowest_leading_dimension(n: int, dtype: str, align: int) -> None:
    x, w = TensorMeta((4096, 768), dtype, (768, 1)), TensorMeta((768, n), dtype, (1, 768))
    assert gemm_align(x, w, TensorMeta((4096, n), dtype)) == align


def test_addmm_from_a_trace_records_its_alignment() -> None:
    # the BERT-small LM head as the H100 trace records it (Input Strides of aten::addmm)
    call = OpCall(op="aten::addmm", args=(TensorMeta((30522,), BF16, (1,)), TensorMeta((141, 512), BF16, (512, 1)),
                                          TensorMeta((512, 30522), BF16, (1, 512)), 1, 1))
    c = cost(call)
    assert c is not None and c.gemm is not None and c.gemm.align == 4
    aligned = cost(OpCall(op="aten::mm", args=(TensorMeta((141, 512), BF16), TensorMeta((512, 30528), BF16))))
    assert aligned is not None and aligned.gemm is not None and aligned.gemm.align == 16


def test_capture_records_alignment_in_every_pass() -> None:
    torch = pytest.importorskip("torch")
    from trainperf.capture import capture_module

    g = capture_module(lambda: torch.nn.Linear(512, 30522), lambda: torch.randn(128, 512),
                       lambda m, x: m(x).float().pow(2).mean(), batch=128)
    mm = g.ops.filter(pl.col("category") == "matmul")
    assert set(mm["phase"].to_list()) >= {"fwd", "bwd"}
    assert set(mm["gemm_align"].to_list()) == {4}, mm.select("op", "phase", "gemm_m", "gemm_n", "gemm_k", "gemm_align")


@pytest.mark.parametrize(("gpu", "slower"), [("H100-SXM", True), ("MI300X", False)])
def test_memory_bound_unaligned_gemm_is_slower_on_nvidia_only(gpu: str, slower: bool) -> None:
    from model_graphs import frame, gemm

    def kernel_s(m: int, n: int, k: int, align: int) -> float:
        return float(op_times(frame([{**gemm(m, n, k), "gemm_align": align}]), gpu)["kernel_s"][0])

    head = {a: kernel_s(141, 30522, 512, a) for a in (16, 4)}  # memory-bound: the narrow loads show
    assert (head[4] > 1.5 * head[16]) is slower and head[4] >= head[16]
    big = {a: kernel_s(8192, 8190, 8192, a) for a in (16, 4)}  # compute-bound: they hide behind the MMAs
    assert big[4] == pytest.approx(big[16], rel=0.01)


def test_bert_head_in_the_h100_trace_is_priced_at_its_align2_kernel(real_traces: Path) -> None:
    from trainperf.model.calibrate import predict_kernels
    from trainperf.model.calibration import load_calibration
    from trainperf.model.check import _trace_gpu
    from trainperf.model.trace_ops import read_trace_ops

    t = read_trace_ops(real_traces / "tracelens_h100" / "gaunernst_bert-small-uncased__1016001.json.gz")
    head = t.ops.filter((pl.col("gemm_n") == 30522) & (pl.col("measured_s") > 0))
    assert head.height == 1 and head["gemm_align"][0] == 4
    pred = float(predict_kernels(head, _trace_gpu(t, None), load_calibration())[0])
    assert 0.8 < pred / head["measured_s"][0] < 1.25  # 41.3 us measured; 18.4 us if priced as aligned
