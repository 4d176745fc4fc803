"""Convolutions as cuDNN / MIOpen run them: each pass (forward; data and weight gradients) an implicit GEMM
with its own shape, channel padding, few-channel K tiles, NCHW <-> NHWC transposes, SIMT Winograd.

Parameters and their sources: model/data/conv.toml (a [conv] section of a calibration file overrides them
key by key). ``op_times`` (model/ops.py) prices the rows ``conv_dims`` accepts with ``conv_times``.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from trainperf.hardware import GPUSpec
from trainperf.model.calibration import Calibration, GPURates
from trainperf.model.efficiency import conv_passes, gemm_efficiency, pad_up, winograd_gemm_fraction
from trainperf.vocab import OpCategory

CONV_FILE = Path(__file__).parent / "data" / "conv.toml"
_CONV_BWD = "aten::convolution_backward"


@lru_cache(maxsize=1)
def _conv_file() -> dict[str, Any]:
    return dict(tomllib.loads(CONV_FILE.read_text())["conv"])


def conv_params(calib: Calibration) -> dict[str, Any]:
    """The conv model's parameters: model/data/conv.toml, each key overridden by a [conv] section of the
    calibration file when it has one."""
    return {**_conv_file(), **dict(calib.data.get("conv", {}))}


def conv_dims(ops: pl.DataFrame) -> dict[str, np.ndarray]:
    """Per row, the convolution's dimensions from its recorded shapes (forward: input, weight; backward:
    grad_output, input, weight): images, spatial sizes, channels per group, filter taps, groups, which passes
    run, and bytes of each operand. ``ok`` marks rows the conv model prices: non-transposed convs whose
    shapes agree with the row's GEMM columns (anything else keeps the plain GEMM model)."""
    bwd = pl.col("op") == _CONV_BWD
    sh = pl.col("input_shapes")
    x = pl.when(bwd).then(sh.list.get(1, null_on_oob=True)).otherwise(sh.list.get(0, null_on_oob=True))
    w = pl.when(bwd).then(sh.list.get(2, null_on_oob=True)).otherwise(sh.list.get(1, null_on_oob=True))
    dt = pl.col("input_dtypes").list.get(0, null_on_oob=True)
    d = ops.select(
        conv=(pl.col("category") == OpCategory.CONV.value) & (pl.col("gemm_m").fill_null(0) > 0),
        bwd=bwd.fill_null(False), xnd=x.list.len(), wnd=w.list.len(),
        n_img=x.list.get(0, null_on_oob=True), c_in=x.list.get(1, null_on_oob=True),
        h=x.list.get(2, null_on_oob=True), w_=x.list.get(3, null_on_oob=True),
        hw_in=x.list.slice(2).list.eval(pl.element().product()).list.first(),
        c_out=w.list.get(0, null_on_oob=True), c_in_g=w.list.get(1, null_on_oob=True),
        kk=w.list.slice(2).list.eval(pl.element().product()).list.first(),
        k3=(w.list.len() == 4) & (w.list.get(2, null_on_oob=True) == 3) & (w.list.get(3, null_on_oob=True) == 3),
        m=pl.col("gemm_m"), n=pl.col("gemm_n"), k=pl.col("gemm_k"), g=pl.col("gemm_batch"),
        elt=pl.when(dt.is_in(["float32", "tfloat32"])).then(4.0).when(dt == "float64").then(8.0).otherwise(2.0),
        flops=pl.col("flops"), written=pl.col("bytes_written"), kernels=pl.col("kernels"),
    ).fill_null(0)
    a = {c: d[c].to_numpy().astype(float) for c in d.columns if c not in ("conv", "bwd", "k3")}
    conv, is_bwd, k3 = (d[c].to_numpy().astype(bool) for c in ("conv", "bwd", "k3"))
    g = np.maximum(a["g"], 1.0)
    p_out = a["m"] / np.maximum(a["n_img"], 1.0)
    ok = (conv & (a["xnd"] >= 3) & (a["wnd"] == a["xnd"]) & (a["n_img"] > 0) & (a["c_in_g"] > 0)
          & (a["k"] == a["c_in_g"] * a["kk"]) & (a["n"] * g == a["c_out"]) & (np.abs(a["c_in"] - a["c_in_g"] * g) < 0.5)
          # depthwise and thin grouped convs run dedicated memory-bound kernels, not implicit GEMMs: they keep
          # the degenerate-GEMM rule of op_times
          & ((g == 1) | (np.minimum(a["c_in_g"], a["n"]) >= 8)))
    fflops = 2.0 * a["m"] * a["n"] * a["k"] * g  # one pass
    x_b = a["n_img"] * a["c_in"] * a["hw_in"] * a["elt"]
    y_b = a["n_img"] * a["c_out"] * p_out * a["elt"]
    w_b = a["c_out"] * a["c_in_g"] * a["kk"] * a["elt"]
    # backward: which gradients (FLOPs count the passes; a single pass writes the input or the weight)
    n_grads = np.where(is_bwd, np.rint(a["flops"] / np.maximum(fflops, 1.0)), 0.0)
    one_is_w = np.abs(a["written"] - w_b) < np.abs(a["written"] - x_b)
    dgrad = is_bwd & ((n_grads >= 2) | ((n_grads == 1) & ~one_is_w))
    wgrad = is_bwd & ((n_grads >= 2) | ((n_grads == 1) & one_is_w))
    return {"ok": ok, "fprop": ok & ~is_bwd, "dgrad": ok & dgrad, "wgrad": ok & wgrad, "n_img": a["n_img"],
            "p_out": p_out, "hw_in": a["hw_in"], "h": a["h"], "w": a["w_"], "c_out_g": a["n"], "c_in_g": a["c_in_g"],
            "kk": a["kk"], "g": g, "x_bytes": x_b, "y_bytes": y_b, "w_bytes": w_b, "elt": a["elt"],
            # 3x3, stride 1, 2-D: Winograd-eligible (a dilated 3x3 with the same output size is rare)
            "wino": ok & k3 & (a["xnd"] == 4) & (np.abs(p_out - a["hw_in"]) < 0.5),
            "strided": ok & (a["hw_in"] > 1.5 * p_out),
            "extra_kernels": np.maximum(a["kernels"] - np.where(is_bwd, n_grads, 1.0), 0.0)}


def conv_times(d: dict[str, np.ndarray], *, prec: np.ndarray, peak: np.ndarray, gpu: GPUSpec, rates: GPURates,
               conv: dict[str, Any], mm_frac: float, bw: float, derate: float) -> tuple[np.ndarray, ...]:
    """(compute_s, memory_s, kernel_s, kernels) of convolution rows (conv_dims of the priced rows).

    Each pass (forward; data and weight gradient of a backward row) is its own implicit GEMM (conv_passes)
    at the GEMM model's efficiency for its shape: kernel = max(compute, operand bytes / bw) + latency.
    Tensor cores: channels padded to conv.channel_multiple, few-channel inputs to a K tile per tap, and
    NCHW <-> NHWC transposes of the pass's three operands as copy kernels (conv.nchw_transposes). fp32
    without tensor cores: the SIMT rate, and Winograd F(4x4, 3x3) for stride-1 3x3 convs when faster.
    Strided data gradients run after a memset of the input gradient (SIMT: at strided_dgrad_frac)."""
    mm = rates.matmul
    tiles, rel, k_half = mm.tiles, mm.tile_rel, mm.k_half
    lat_mm = float(mm.latency_s)
    lat_cp = float(rates.memory_latency_s("copy"))
    tr_slow = float(conv["transpose_slowdown"])
    simt = prec == "fp32"
    tc = ~simt & (prec != "fp64")
    mult = np.array([float(conv["channel_multiple"].get(p, 1)) for p in prec]) * tc + ~tc
    simt_frac = float(conv["simt_frac"].get(gpu.family, conv["simt_frac"].get("default", mm.fp32_simt_frac)))
    simt_rate = gpu.fp32_dense_tflops * 1e12 * derate * simt_frac
    rate = np.where(simt, simt_rate, peak * mm_frac)
    # Tensor-core kernels step through K one filter tap at a time, a K tile of channels per step: a tap with
    # fewer input channels than the tile (RGB first layers) still costs a whole tile (conv.few_channels_k)
    ktile = float(conv["few_channels_k"].get(gpu.vendor, 1))
    cin_tap = np.where(tc & (d["c_in_g"] < ktile), ktile, 1.0)

    def simt_eff(m: np.ndarray, nn: np.ndarray, k: np.ndarray) -> np.ndarray:
        # SIMT kernels: tile and wave quantization only; their tile shapes all reach the SIMT rate (conv.simt_frac)
        return gemm_efficiency(m, nn, k, d["g"], sm_count=gpu.sm_count, tiles=tiles, tile_rel=[1.0] * len(tiles),
                               k_half=k_half)

    passes = conv_passes(d["n_img"], d["p_out"], d["hw_in"], d["c_out_g"], d["c_in_g"], d["kk"])
    # operands of each pass: (read, read, written) bytes
    operands = {"fprop": (d["x_bytes"], d["w_bytes"], d["y_bytes"]), "dgrad": (d["y_bytes"], d["w_bytes"], d["x_bytes"]),
                "wgrad": (d["x_bytes"], d["y_bytes"], d["w_bytes"])}
    n = len(prec)
    comp, mem, kern_s, kernels = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for name, (m, nn, k) in passes.items():
        on = d[name]
        if not on.any():
            continue
        flops = 2.0 * m * nn * k * d["g"]
        # tensor cores compute the padded channels: the GEMM's channel dims round up (the spatial ones do not)
        cin_p, cout_p = np.maximum(pad_up(d["c_in_g"], mult), cin_tap), pad_up(d["c_out_g"], mult)
        pm, pn, pk = {"fprop": (m, cout_p, cin_p * d["kk"]),
                      "dgrad": (m, cin_p, cout_p * d["kk"] * d["p_out"] / np.maximum(d["hw_in"], 1.0)),
                      "wgrad": (cout_p, cin_p * d["kk"], k)}[name]
        eff = np.where(simt, simt_eff(m, nn, k), gemm_efficiency(pm, pn, pk, d["g"], sm_count=gpu.sm_count, tiles=tiles,
                                                                 tile_rel=rel, k_half=k_half))
        t_c = 2.0 * pm * pn * pk * d["g"] / (rate * np.maximum(eff, 1e-6))
        # NB: fitted on SIMT kernels only; tensor-core gradient kernels are not measured here
        if name == "dgrad":
            t_c = np.where(d["strided"] & simt, t_c / float(conv["strided_dgrad_frac"]), t_c)
        if name == "wgrad":
            t_c = np.where(simt, t_c / float(conv["simt_wgrad_frac"]), t_c)
        a, b, c = operands[name]
        t_m = (a + b + c) / bw
        t = np.maximum(t_c, t_m) + lat_mm
        nk = np.ones(n)
        # cuDNN picks the fastest algorithm: an fp32 conv's TF32 pass may lose to an unpadded SIMT kernel (the
        # A100 AlexNet trace runs its C_in = 3 conv as scudnn); SIMT kernels read NCHW, no transposes. 16-bit
        # convs stay on tensor cores (the H100 and MI300X traces: even their C_in = 3 conv)
        simt_alt = np.maximum(flops / (simt_rate * np.maximum(simt_eff(m, nn, k), 1e-6)), t_m) + lat_mm
        if conv["winograd"]:
            # nonfused Winograd: input/output transforms (memory-bound) around a batched GEMM at 1/r the work
            io = a + (b if name == "wgrad" else c)
            w_c = flops * winograd_gemm_fraction(d["h"], d["w"]) / (rate * float(conv["winograd_frac"]))
            w_m = float(conv["winograd_bytes"]) * io / bw
            t_w = w_c + w_m + 3.0 * lat_mm  # separate kernels: transform, batched GEMM, transform
            use = simt & d["wino"] & (t_w < t)
            t, nk = np.where(use, t_w, t), np.where(use, 3.0, nk)
            t_c, t_m = np.where(use, w_c, t_c), np.where(use, w_m, t_m)
        # memory-bound side kernels (transposes, memsets): their bytes count as the op's memory time
        t_x = np.zeros(n)
        if conv["nchw_transposes"]:  # NCHW -> NHWC of both inputs, NHWC -> NCHW of the output
            tr = tc & (d["g"] == 1)  # NB: depthwise/grouped convs keep their own (NCHW) kernels
            t_x = np.where(tr, 2.0 * (a + b + c) * tr_slow / bw, 0.0)
            t = t + t_x + np.where(tr, 3.0 * lat_cp, 0.0)
            nk = nk + np.where(tr, 3.0, 0.0)
        pick_simt = (prec == "tf32") & (simt_alt < t)
        t, nk = np.where(pick_simt, simt_alt, t), np.where(pick_simt, 1.0, nk)
        t_c, t_x = np.where(pick_simt, simt_alt - lat_mm, t_c), np.where(pick_simt, 0.0, t_x)
        if name == "dgrad" and conv["strided_dgrad_memset"]:
            t = t + np.where(d["strided"], d["x_bytes"] / bw + lat_cp, 0.0)
            t_x = t_x + np.where(d["strided"], d["x_bytes"] / bw, 0.0)
            nk = nk + d["strided"]
        comp += np.where(on, t_c, 0.0)
        mem += np.where(on, t_m + t_x, 0.0)
        kern_s += np.where(on, t, 0.0)
        kernels += np.where(on, nk, 0.0)
    # bias gradient and other kernels of the row: memory-bound reductions over the output gradient
    extra = d["extra_kernels"]
    kern_s += np.where(extra > 0, d["y_bytes"] / bw + lat_cp * extra, 0.0)
    mem += np.where(extra > 0, d["y_bytes"] / bw, 0.0)
    return comp, mem, kern_s, np.maximum(kernels + extra, 1.0)
