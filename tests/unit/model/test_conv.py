"""Convolutions as cuDNN / MIOpen run them (model/conv.py, model/data/conv.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from trainperf.costs.types import OpCall, TensorMeta
from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig, load_calibration, op_times
from trainperf.model.calibration import Calibration
from trainperf.model.conv import conv_params
from trainperf.model.efficiency import conv_passes, pad_up, winograd_gemm_fraction
from trainperf.model.trace_ops import kernel_time_by_span, op_row
from trainperf.opgraph import OPGRAPH_SCHEMA

BURST = ExecConfig(sustained=False)
FWD, BWD = "aten::cudnn_convolution", "aten::convolution_backward"


def conv(n: int, cin: int, cout: int, k: int, hw: int, *, stride: int = 1, groups: int = 1, dtype: str = "bfloat16",
         backward: bool = False, mask: tuple[bool, bool, bool] = (True, True, False)) -> dict[str, Any]:
    pad = k // 2
    ho = (hw + 2 * pad - k) // stride + 1
    x, w = TensorMeta((n, cin, hw, hw), dtype), TensorMeta((cout, cin // groups, k, k), dtype)
    if backward:
        go = TensorMeta((n, cout, ho, ho), dtype)
        call = OpCall(BWD, (go, x, w, (0,), (stride, stride), (pad, pad), (1, 1), False, (0, 0), groups, mask))
    else:
        call = OpCall(FWD, (x, w, (pad, pad), (stride, stride), (1, 1), groups, False, False, True))
    r = op_row(call)
    assert r is not None
    return {**r, "phase": "bwd" if backward else "fwd"}


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=OPGRAPH_SCHEMA, strict=False)


def with_conv(gpu: str, **kw: Any) -> Calibration:
    g = get_gpu(gpu)
    base = load_calibration().for_gpu(g.family, g.vendor)
    return Calibration(data={**base.data, "conv": kw}, path=base.path, sources=base.sources)


def test_pass_shapes_and_winograd_closed_forms() -> None:
    a = np.array
    p = conv_passes(a([256.0]), a([28.0 * 28]), a([56.0 * 56]), a([128.0]), a([64.0]), a([9.0]))
    (fm, fn, fk), (dm, dn, dk), (wm, wn, wk) = p["fprop"], p["dgrad"], p["wgrad"]
    assert (fm[0], fn[0], fk[0]) == (256 * 784, 128, 576)
    assert (dm[0], dn[0]) == (256 * 3136, 64) and wm[0] == 128 and wn[0] == 576 and wk[0] == 256 * 784
    # a stride-2 data gradient does the forward's multiply-adds
    assert dm[0] * dn[0] * dk[0] == pytest.approx(fm[0] * fn[0] * fk[0]) == pytest.approx(wm[0] * wn[0] * wk[0])
    assert winograd_gemm_fraction(a([56.0]), a([56.0]))[0] == pytest.approx(0.25)
    assert winograd_gemm_fraction(a([7.0]), a([7.0]))[0] == pytest.approx(36 * 4 / (9 * 49))
    assert list(pad_up(a([3.0, 8.0, 9.0]), 8.0)) == [8.0, 8.0, 16.0]


def test_nchw_tensor_core_conv_pays_three_transposes() -> None:
    row = frame(conv(256, 256, 64, 1, 56))  # a ResNet-50 1x1 reduction, bf16
    g = get_gpu("H100-SXM")
    on = op_times(row, g, BURST, with_conv("H100-SXM")).row(0, named=True)
    off = op_times(row, g, BURST, with_conv("H100-SXM", nchw_transposes=False)).row(0, named=True)
    assert on["eff_kernels"] == 4 and off["eff_kernels"] == 1
    calib = with_conv("H100-SXM")
    cp = calib.memory.category_latency_s["copy"]
    nbytes = float(row["bytes_read"][0] + row["bytes_written"][0])
    bw = 3.0e12  # the H100 copy anchor
    want = 2 * nbytes * conv_params(calib)["transpose_slowdown"] / bw + 3 * cp
    assert on["kernel_s"] - off["kernel_s"] == pytest.approx(want, rel=1e-6)


def test_channels_last_execution_drops_the_transposes() -> None:
    row = frame(conv(256, 256, 64, 1, 56))
    nchw = op_times(row, "H100-SXM", BURST).row(0, named=True)
    nhwc = op_times(row, "H100-SXM", ExecConfig(sustained=False, channels_last=True)).row(0, named=True)
    assert nhwc["eff_kernels"] == 1 < nchw["eff_kernels"] and nhwc["kernel_s"] < nchw["kernel_s"]
    assert ExecConfig(channels_last=True).mode == "eager, channels-last"


def test_first_layer_pads_each_tap_to_a_k_tile_unless_simt_is_faster() -> None:
    g = get_gpu("H100-SXM")
    rgb, wide = op_times(frame(conv(64, 3, 64, 7, 224, stride=2), conv(64, 32, 64, 7, 224, stride=2)), g, BURST)["compute_s"]
    assert rgb == pytest.approx(wide)  # 3 channels per tap cost a 32-channel K tile (conv.few_channels_k)
    # fp32 on an A100 runs convs on TF32 (cudnn.allow_tf32); the RGB layer's padded TF32 pass loses to SIMT
    a100 = op_times(frame(conv(128, 3, 64, 11, 224, stride=4, dtype="float32"), conv(128, 192, 384, 3, 13, dtype="float32")),
                    "A100-SXM-40GB", ExecConfig(precision="fp32", sustained=False))
    assert a100["precision"].to_list() == ["tf32", "tf32"]
    assert a100["eff_kernels"].to_list() == [1, 4]  # SIMT reads NCHW; the tensor-core pass transposes
    assert op_times(frame(conv(128, 192, 384, 3, 13, dtype="float32")), "V100-SXM",
                    ExecConfig(precision="fp32"))["precision"][0] == "fp32"  # no TF32 on Volta


def test_backward_runs_data_and_weight_gradients_as_their_own_passes() -> None:
    g = get_gpu("A100-SXM-80GB")
    f, both, w_only = op_times(frame(conv(256, 64, 64, 3, 56), conv(256, 64, 64, 3, 56, backward=True),
                                     conv(256, 64, 64, 3, 56, backward=True, mask=(False, True, False))), g, BURST)["kernel_s"]
    assert both > w_only and both > 1.5 * f
    strided = op_times(frame(conv(256, 64, 128, 3, 56, stride=2, backward=True)), g, BURST)
    assert strided["eff_kernels"][0] == 2 * 4 + 1  # two passes with their transposes, and a memset of grad_input


def test_simt_fp32_3x3_stride1_convs_run_winograd() -> None:
    ops = frame(conv(128, 128, 128, 3, 28, dtype="float32"), conv(128, 128, 256, 3, 28, stride=2, dtype="float32"))
    r = op_times(ops, "RTX-2080-Ti", ExecConfig(precision="fp32", sustained=False))
    assert r["eff_kernels"].to_list() == [3, 1]  # transform, batched GEMM, transform; implicit GEMM
    nw = op_times(ops, "RTX-2080-Ti", ExecConfig(precision="fp32", sustained=False), with_conv("RTX-2080-Ti", winograd=False))
    assert r["kernel_s"][0] < nw["kernel_s"][0] and r["kernel_s"][1] == nw["kernel_s"][1]


def test_depthwise_convs_keep_the_memory_bound_rule() -> None:
    dw = frame(conv(128, 144, 144, 3, 112, groups=144))
    a = op_times(dw, "H100-SXM", BURST)
    b = op_times(dw, "H100-SXM", BURST, with_conv("H100-SXM", passes=False))
    assert a["kernel_s"][0] == b["kernel_s"][0] and a["bound_by"][0] == "memory"


# torchvision resnet18 convs in forward order: (c_in, c_out, kernel, stride, input size)
RESNET18 = [(3, 64, 7, 2, 224), *[(64, 64, 3, 1, 56)] * 4,
            *[c for cin, co, hw in ((64, 128, 56), (128, 256, 28), (256, 512, 14))
              for c in ((cin, co, 3, 2, hw), (co, co, 3, 1, hw // 2), (cin, co, 1, 2, hw), (co, co, 3, 1, hw // 2),
                        (co, co, 3, 1, hw // 2))]]


@pytest.mark.validation
def test_resnet18_convs_on_the_2080ti_trace(real_traces: Path) -> None:
    """The RTX 2080 Ti ResNet-18 training trace (fp32, batch 128, no shapes recorded): 20 convs forward and
    backward per step, matched to torchvision resnet18's layers by position. Median / p90 |error| at commit
    time: 8.5% / 27.9% (the plain GEMM model: 65.7% / 223.8%); benchmarks/bench_model.py section 4."""
    from trainperf.trace import load_trace

    d = kernel_time_by_span(load_trace(real_traces / "param_2080ti/resnet_kineto.json.gz").events, (FWD, BWD))
    rows = []
    for name in (FWD, BWD):
        x = d.filter(pl.col("name") == name).with_row_index("i").filter(pl.col("i") >= 20)  # the first step autotunes
        x = x.with_columns(layer=pl.col("i") % 20 if name == FWD else 19 - pl.col("i") % 20)
        meas = dict(x.group_by("layer").agg(pl.col("kernel_s").median()).iter_rows())
        for i, (cin, cout, k, s, hw) in enumerate(RESNET18):
            r = conv(128, cin, cout, k, hw, stride=s, dtype="float32", backward=name == BWD, mask=(i > 0, True, False))
            rows.append({**r, "measured_s": meas[i]})
    ops = pl.DataFrame(rows, schema={**OPGRAPH_SCHEMA, "measured_s": pl.Float64}, strict=False)
    pred = op_times(ops, "RTX-2080-Ti", ExecConfig(precision="fp32", sustained=False))["kernel_s"].to_numpy()
    meas_s = ops["measured_s"].to_numpy()
    err = np.abs(pred - meas_s) / meas_s
    assert np.median(err) < 0.12 and np.quantile(err, 0.9) < 0.35, (np.median(err), np.quantile(err, 0.9))
    assert 0.85 < pred.sum() / meas_s.sum() < 1.1
