"""One precision vocabulary (vocab.Precision) behind the GPU specs, the single-GPU model and the planner."""

import dataclasses

import pytest

from trainperf.costs.types import DTYPE_BYTES
from trainperf.hardware import get_gpu, precision_of
from trainperf.hardware.spec import GPUSpec
from trainperf.model.config import ExecConfig
from trainperf.parallel.plan import ParallelPlan
from trainperf.vocab import EXEC_PRECISIONS, PLAN_PRECISIONS, Precision


@pytest.mark.parametrize("p", list(Precision))
def test_each_precision_names_a_spec_field_and_a_dtype(p: Precision) -> None:
    assert p.peak_field in {f.name for f in dataclasses.fields(GPUSpec)}
    packed = 2 if p.dtype == "float4_e2m1fn_x2" else 1  # torch packs two fp4 values per element
    if p is Precision.FP6:  # no torch dtype: stored in its fp8 container
        assert p.dtype == Precision.FP8.dtype and p.bytes == 0.75
        return
    assert p.bytes * packed == DTYPE_BYTES[p.dtype]
    assert precision_of(p.dtype) in (p, Precision.FP32)  # tf32 computes on float32 tensors


def test_peaks_read_through_the_enum() -> None:
    h100 = get_gpu("H100-SXM")
    assert h100.peak_tflops(Precision.BF16) == h100.bf16_dense_tflops == h100.peak_tflops("bfloat16")
    assert precision_of("torch.float8_e4m3fn") is Precision.FP8


def test_configs_hold_the_enum_and_refuse_other_formats() -> None:
    assert ExecConfig(precision="fp8").precision is Precision.FP8
    assert ExecConfig(precision="fp8").capture_dtype == "bfloat16"  # fp8 linears, the rest of the step bf16
    assert ExecConfig(precision="tf32").capture_dtype == "float32"
    assert ParallelPlan(gpus=8, gbs=8, precision="fp4").precision is Precision.FP4
    with pytest.raises(ValueError, match="fp4"):
        ExecConfig(precision="fp4")
    with pytest.raises(ValueError, match="choose one of bf16, fp16, fp8, fp4"):
        ParallelPlan(gpus=8, gbs=8, precision="tf32")
    assert set(EXEC_PRECISIONS) | set(PLAN_PRECISIONS) <= set(Precision)
