"""Single-GPU mechanisms that hold on unseen work: PCIe copies, TF32 from kernel names, memcpy floors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from model_graphs import frame, gemm

from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig, load_calibration, op_times
from trainperf.model.calibrate import predict_kernels
from trainperf.model.trace_ops import host_transfer, kernel_precision, memcpy_row, read_trace_ops

_BURST = ExecConfig(sustained=False)


def _copy(nbytes: float, kind: str) -> dict[str, Any]:
    return {"op": "aten::copy_", "category": "copy", "bytes_read": nbytes, "bytes_written": nbytes, "math_dtype": "",
            "module_type": ""}


def _with_link(rows: list[dict[str, Any]], kinds: list[str]) -> pl.DataFrame:
    return frame(rows).with_columns(pl.Series("host_copy", kinds, dtype=pl.Utf8))


def test_host_copies_run_over_pcie_not_hbm() -> None:
    # closed form (model/pcie.py): latency + bytes / rate; pinned at pinned_frac of the per-direction link,
    # pageable at min(that, pageable_GBps); speed of light at the link's datasheet rate
    p = load_calibration().data["pcie"]
    ops = _with_link([_copy(1e8, "pinned"), _copy(1e8, "pageable"), _copy(1e8, "")], ["pinned", "pageable", ""])
    h100 = get_gpu("H100-SXM")
    t = op_times(ops, h100, _BURST)
    k = t["kernel_s"].to_numpy()
    assert k[0] == pytest.approx(p["latency_s"] + 1e8 / (64e9 * p["pinned_frac"]))
    assert k[1] == pytest.approx(p["latency_s"] + 1e8 / (p["pageable_GBps"] * 1e9))
    assert k[2] < k[0] / 10  # the same bytes copied on-device: read + write at HBM rates (3.35 TB/s)
    assert t["sol_time_s"].to_numpy()[:2] == pytest.approx([1e8 / 64e9] * 2)
    # a PCIe Gen3 x16 part (16 GB/s per direction) is 4x slower pinned than Gen5's 64
    k3 = op_times(ops, get_gpu("RTX-2080-Ti"), ExecConfig(sustained=False, precision="fp16"))["kernel_s"].to_numpy()
    assert (k3[0] - p["latency_s"]) == pytest.approx(4 * (k[0] - p["latency_s"]))


def test_host_copies_never_fuse_under_compile() -> None:
    ops = _with_link([_copy(1e8, "pinned"), _copy(1e8, "")], ["pinned", ""])
    t = op_times(ops, "H100-SXM", ExecConfig(sustained=False, compile=True))
    assert t["kernel_s"][0] > 1e8 / 64e9


def test_memcpy_records_name_the_transfer_and_price_unshaped_copies() -> None:
    assert host_transfer(["Memcpy HtoD (Pageable -> Device)"]) == "pageable"
    assert host_transfer(["Memcpy DtoH (Device -> Pinned)"]) == "pinned"
    assert host_transfer(["Memcpy DtoD (Device -> Device)"]) == "device"
    assert host_transfer(["void at::native::vectorized_elementwise_kernel<4>"]) == ""
    row = memcpy_row("aten::copy_", ["gpu_memcpy"], [4096], "pageable")
    assert row is not None and row["bytes_read"] == 4096 and row["bytes_written"] == 0
    dtod = memcpy_row("aten::copy_", ["gpu_memcpy"], [4096], "device")
    assert dtod is not None and dtod["bytes_read"] == dtod["bytes_written"] == 4096
    assert memcpy_row("aten::copy_", ["kernel"], [None], "") is None


@pytest.mark.parametrize(("folder", "gpu", "rate_GBps"), [
    ("critical_path/alexnet", "A100-SXM-40GB", 4.34),  # 151 MB input copy in 34.78 ms (trace's own bytes)
    ("param_2080ti/resnet_kineto.json.gz", "RTX-2080-Ti", 3.54),  # 77 MB input batches, median of 30 copies
])
def test_pageable_input_copies_match_the_measured_traces(real_traces: Path, folder: str, gpu: str,
                                                         rate_GBps: float) -> None:
    path = real_traces / folder
    files = sorted(path.glob("*.json.gz")) if path.is_dir() else [path]
    t = read_trace_ops(files[0])
    big = t.ops.filter((pl.col("host_copy") == "pageable") & (pl.col("bytes_read") > 1e6))
    assert big.height > 0
    pred = predict_kernels(big, get_gpu(gpu), load_calibration())
    meas = big["measured_s"].to_numpy()
    assert np.median(big["bytes_read"].to_numpy() / meas) / 1e9 == pytest.approx(rate_GBps, rel=0.35)
    # the model prices them at the host staging rate, within 30% of each trace's median (HBM would be ~400x off)
    assert float(np.median(pred / meas)) == pytest.approx(1.0, abs=0.3)


def test_tf32_kernels_run_fp32_gemms_at_the_tf32_rate() -> None:
    assert kernel_precision(["sm80_xmma_gemm_tf32f32_tf32f32_f32_tn_n_tilesize128x128x16"], "float32", "matmul") == "tfloat32"
    assert kernel_precision(["cutlass_80_tensorop_s1688tf32gemm_256x128_16x3_tn_align4"], "float32", "matmul") == "tfloat32"
    assert kernel_precision(["ampere_sgemm_128x64_tn"], "float32", "matmul") == "float32"  # SIMT fp32
    assert kernel_precision(["sm90_xmma_gemm_bf16bf16_bf16f32"], "bfloat16", "matmul") == "bfloat16"
    a100 = get_gpu("A100-SXM-80GB")
    rows = [gemm(4096, 4096, 4096, dtype="float32"), {**gemm(4096, 4096, 4096, dtype="float32"), "math_dtype": "tfloat32"}]
    t = op_times(frame(rows), a100, _BURST)
    assert t["precision"].to_list() == ["fp32", "tf32"]
    k = t["kernel_s"].to_numpy()
    # A100: TF32 156 TFLOP/s dense vs fp32 19.5 (datasheet): the TF32 kernel is several times faster
    assert k[0] / k[1] > 4
    # speed of light at the precision the kernel ran at
    assert t["sol_time_s"][1] == pytest.approx(2 * 4096**3 / (a100.peak_tflops("tf32") * 1e12), rel=0.01)
    # the user's allow_tf32 (ExecConfig precision "tf32") gives the same as the kernel names
    t2 = op_times(frame(rows[:1]), a100, ExecConfig(sustained=False, precision="tf32"))
    assert t2["kernel_s"][0] == pytest.approx(k[1])


def test_compiled_chains_keep_speed_of_light_below_their_time() -> None:
    # a fused chain moves fused_bytes_frac of its eager bytes: its speed of light is the fused kernel's, shared
    # by the same weights as its time (was: eager bytes / peak bandwidth against fused time, SOL 115-160%)
    from model_graphs import eltwise, graph

    from trainperf.model import predict_step

    g = graph([eltwise(2**26), eltwise(2**26, category="norm"), eltwise(2**26, category="reduction"), eltwise(2**24),
               gemm(4096, 4096, 4096), eltwise(2**26, category="copy")])
    cfg = ExecConfig(compile=True)
    t = op_times(g.ops, "H100-SXM", cfg)
    assert (t["sol_time_s"] <= t["time_s"] * (1 + 1e-9)).all()
    cats = predict_step(g, "H100-SXM", cfg).categories
    assert (cats["sol_pct"] <= 100.0 + 1e-6).all() and (cats["sol_pct"] > 30.0).all()
    frac = load_calibration().compile.fused_bytes_frac
    chain = t.filter(pl.col("category") != "matmul").head(4)  # the first chain: four fused ops
    h100 = get_gpu("H100-SXM")
    nbytes = (chain["bytes_read"] + chain["bytes_written"]).sum()
    assert chain["sol_time_s"].sum() == pytest.approx(nbytes * frac / (h100.hbm_bw_GBps * 1e9), rel=1e-6)
