"""Per-op time on a GPU: roofline with efficiency curves, kernel floors, host dispatch and launch costs.

`op_times(ops, gpu, cfg)` takes an OpGraph table (opgraph.py) and returns it with columns:
  time_s       predicted seconds the op occupies on the GPU timeline, incl. exposed host/launch gaps
  gpu_time_s   GPU stream time of the op: its kernels plus the gaps between back-to-back kernels
  kernel_s     kernel time alone (what a profiler's kernel rows would show, summed over the op's kernels)
  host_time_s  CPU time to issue the op (dispatch + launches)
  sol_time_s   speed of light: max(work / peak, bytes / peak bandwidth), no efficiency, no latency
  compute_s, memory_s   the two roofline terms at achievable rates
  bound_by     vocab.BoundBy: compute / memory / latency
Vectorized: a 20k-row graph takes a few milliseconds. Stages, each over every row, on the GPU's rates
(calibration.GPURates): (1) GEMMs and other math, (2) flash attention, (3) memory traffic, kernel floors,
host copies and convolutions, (4) host issue and the single-stream GPU timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from trainperf.hardware import GPUSpec, get_gpu, measured_anchors
from trainperf.hardware.spec import precision_of
from trainperf.model.calibration import Calibration, GPURates, MatmulRates, load_calibration
from trainperf.model.config import ExecConfig
from trainperf.model.conv import conv_dims, conv_params, conv_times
from trainperf.model.efficiency import (
    attention_efficiency,
    causal_work_fraction,
    gemm_efficiency,
    gpu_timeline,
    power_derate,
)
from trainperf.model.pcie import pcie_params, pcie_rate, transfer_bytes
from trainperf.vocab import BoundBy, OpCategory, Phase

_GEMM_CATS = (OpCategory.MATMUL.value, OpCategory.CONV.value)
_FUSIBLE = (OpCategory.ELEMENTWISE.value, OpCategory.NORM.value, OpCategory.REDUCTION.value, OpCategory.COPY.value)
_ANCHOR_PEAK_DTYPE = "bf16"
_OUT_FLOAT = ("time_s", "gpu_time_s", "kernel_s", "host_time_s", "sol_time_s", "compute_s", "memory_s", "eff_kernels")


def gpu_rates(gpu: GPUSpec, calib: Calibration | GPURates | None = None, path: str | None = None) -> GPURates:
    """The rates `gpu` runs at: `calib` resolved for its family (Calibration.rates), or the calibration file
    at `path` (None: the packaged one) when `calib` is None; rates already resolved must be of its family."""
    if isinstance(calib, GPURates):
        if calib.family != gpu.family:
            raise ValueError(f"rates resolved for family {calib.family!r} given for {gpu.name} ({gpu.family})")
        return calib
    return (calib or load_calibration(path)).rates(gpu.family, gpu.vendor)


def achievable(gpu: GPUSpec, calib: Calibration | GPURates) -> tuple[float, float]:
    """(large-GEMM fraction of the bf16/fp16 peak, achievable HBM bytes/s): a measured anchor of this card
    where hardware/data/efficiency.toml has one, else the calibrated per-family fraction."""
    rates = gpu_rates(gpu, calib)
    anchors = measured_anchors(gpu.derived_from or gpu.name)
    mm = anchors.get("matmul_tflops")
    if mm is not None and gpu.has_precision(_ANCHOR_PEAK_DTYPE):
        frac = _anchored_gemm_frac(gpu, rates.matmul, mm.value, mm.shape)
    else:
        frac = rates.gemm_frac
    cp = anchors.get("copy_GBps")
    bw = cp.value * 1e9 * gpu.factor("hbm_bw_GBps") if cp is not None else gpu.hbm_bw_GBps * 1e9 * rates.bw_frac
    return frac, bw


def _anchored_gemm_frac(gpu: GPUSpec, mm: MatmulRates, tflops: float, shape: str) -> float:
    """Large-GEMM fraction of the peak that reproduces a measured rate (TFLOP/s) on its measured shape."""
    # The anchor GEMM itself has some wave quantization and latency: divide them out.
    dims = [float(x) for x in shape.split("x")] if shape else []
    m, n, k = dims if len(dims) == 3 else (8192.0, 8192.0, 8192.0)  # unknown: a large square shape
    shape_eff = 1.0 if len(dims) != 3 else float(gemm_efficiency(
        np.array([m]), np.array([n]), np.array([k]), np.array([1.0]), sm_count=gpu.sm_count, tiles=mm.tiles,
        tile_rel=mm.tile_rel, k_half=mm.k_half)[0])
    # NB: on scaled hardware the anchor keeps its fraction of peak (rate x the scale of the peak).
    t_meas = 2.0 * m * n * k / (tflops * gpu.factor(f"{_ANCHOR_PEAK_DTYPE}_dense_tflops") * 1e12)
    t_math = max(t_meas - mm.latency_s, 0.5 * t_meas)
    return min(1.0, 2.0 * m * n * k / t_math / (gpu.peak_tflops(_ANCHOR_PEAK_DTYPE) * 1e12 * shape_eff))


def _row_precision(math_dtype: str, category: str, module_type: str, cfg: ExecConfig) -> str:
    """Precision whose peak a compute op runs at under `cfg`."""
    p = precision_of(math_dtype) if math_dtype else ("fp32" if cfg.precision in ("fp32", "tf32") else "bf16")
    if p in ("bf16", "fp16") and cfg.precision in ("bf16", "fp16"):
        p = cfg.precision  # same element width: a graph captured in bf16 predicts fp16 runs as well
    if p == "fp32" and cfg.precision == "tf32" and category in (*_GEMM_CATS, OpCategory.ATTENTION.value):
        return "tf32"
    if cfg.precision == "fp8" and category == OpCategory.MATMUL.value and module_type == "Linear" and p in ("bf16", "fp16"):
        return "fp8"  # torchao float8 converts nn.Linear only
    return p


def _peaks(gpu: GPUSpec, precisions: list[str]) -> dict[str, float]:
    out = {}
    for p in set(precisions):
        if gpu.has_precision(p):
            out[p] = gpu.peak_tflops(p) * 1e12
        elif p in ("bf16", "tf32", "fp8", "fp6", "fp4"):  # no silent fallback to another precision
            raise ValueError(f"{gpu.name} has no {p} tensor cores; choose --precision fp16 or fp32 for it")
    return out


def _col(ops: pl.DataFrame, name: str, fill: float | bool = 0.0) -> np.ndarray:
    """A column as a numpy array with nulls filled; fill_null only when there are nulls (each polars
    expression costs a query, ~0.1 ms, which dominated pricing a small op table)."""
    s = ops.get_column(name)
    if s.null_count():
        s = s.fill_null(fill)
    return s.to_numpy().astype(bool if isinstance(fill, bool) else float, copy=False)


def unaligned_factor(ops: pl.DataFrame, cat: np.ndarray, simt: np.ndarray, exponent: float) -> np.ndarray:
    """Bandwidth factor of tensor-core matmuls whose leading dimensions allow only ``a`` < 16-byte accesses
    (gemm_align): (a / 16) ** exponent ([matmul] unaligned_exponent of the family); 1 elsewhere (aligned,
    SIMT, not a matmul). The align4/2/1 kernels cuBLAS falls back to move global memory in 4-16x narrower
    vectors (and, on Hopper and Blackwell, without TMA), so their memory stream slows. Their math is left at
    the aligned rate: each loaded element feeds a whole tile of MMAs, so a compute-bound GEMM hides the
    narrower loads (a Hopper align2 kernel also runs sm80 mma.sync rather than wgmma: no trace measures it)."""
    if "gemm_align" not in ops.columns:
        return np.ones(ops.height)
    a = _col(ops, "gemm_align")
    hit = (cat == OpCategory.MATMUL.value) & ~simt & (a > 0) & (a < 16)
    return np.where(hit, (np.maximum(a, 1.0) / 16.0) ** exponent, 1.0)


@dataclass(frozen=True)
class _Rows:
    """What every stage of op_times reads: the table, the part and its rates, and per-row arrays."""

    ops: pl.DataFrame
    gpu: GPUSpec
    cfg: ExecConfig
    rates: GPURates
    cat: np.ndarray
    phase: np.ndarray
    flops: np.ndarray
    nbytes: np.ndarray
    kernels: np.ndarray
    covered: np.ndarray
    prec: np.ndarray
    """Precision each row's math runs at (peaks per precision)."""
    peak: np.ndarray
    """Its peak FLOP/s at the clocks of this run (sustained or burst)."""
    simt: np.ndarray
    """fp32 math without tensor cores."""
    derate: float
    mm_frac: float
    bw: float
    conv: dict[str, Any]


def _rows(ops: pl.DataFrame, gpu: GPUSpec, cfg: ExecConfig, rates: GPURates) -> _Rows:
    cat = ops["category"].to_numpy().astype(str)
    covered = _col(ops, "covered", False)
    # An uncovered op (no cost formula) still runs: time it as at least one kernel's latency, never zero.
    kernels = np.where(covered, _col(ops, "kernels"), np.maximum(_col(ops, "kernels"), 1.0))
    mm_frac, bw = achievable(gpu, rates)
    derate = power_derate(gpu.tdp_W, rates.ref_tdp_W, rates.power.exponent)
    if cfg.sustained:  # long runs hold lower clocks than a trace's or a microbenchmark's bursts
        derate *= rates.sustained_frac
    # Peak rate per row for compute ops (precision from math_dtype and cfg).
    keys = list(zip((d or "" for d in ops.get_column("math_dtype").to_list()), cat.tolist(),
                    (m or "" for m in ops.get_column("module_type").to_list()), strict=True))
    uniq = {k: _row_precision(k[0], k[1], k[2], cfg) for k in set(keys)}
    prec = np.array([uniq[k] for k in keys], dtype=object)
    conv = conv_params(rates.calibration)
    if cfg.channels_last:  # NHWC tensors: tensor-core convs need no NCHW<->NHWC transposes
        conv = {**conv, "nchw_transposes": False}
    if conv["tf32_default"] and gpu.has_precision("tf32"):  # cuDNN convs run fp32 on TF32 by default
        prec = np.where((cat == OpCategory.CONV.value) & (prec == "fp32"), "tf32", prec)
    peaks = _peaks(gpu, [*uniq.values(), *set(prec.tolist())])
    peak = np.array([peaks.get(p, gpu.peak_tflops("fp16") * 1e12) for p in prec]) * derate
    return _Rows(ops=ops, gpu=gpu, cfg=cfg, rates=rates, cat=cat, phase=ops["phase"].to_numpy().astype(str),
                 flops=_col(ops, "flops"), nbytes=_col(ops, "bytes_read") + _col(ops, "bytes_written"),
                 kernels=kernels, covered=covered, prec=prec, peak=peak, simt=prec == "fp32", derate=derate,
                 mm_frac=mm_frac, bw=bw, conv=conv)


# ---------------------------------------------------------------- stage 1: GEMMs (and other math on CUDA cores)

def _gemm_compute(r: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """(compute_s, is_gemm) of every row as if it were not attention: GEMMs at their shape efficiency (tile,
    wave and short-K quantization), degenerate GEMMs and all other math on CUDA cores."""
    ops, gpu, mm = r.ops, r.gpu, r.rates.matmul
    gm, gn, gk = _col(ops, "gemm_m"), _col(ops, "gemm_n"), _col(ops, "gemm_k")
    is_gemm = np.isin(r.cat, _GEMM_CATS) & (gm > 0)
    geff = gemm_efficiency(gm, gn, gk, _col(ops, "gemm_batch"), sm_count=gpu.sm_count, tiles=mm.tiles,
                           tile_rel=mm.tile_rel, k_half=mm.k_half)
    frac = np.where(r.simt, mm.fp32_simt_frac, r.mm_frac)
    gemm_rate = r.peak * frac * np.where(is_gemm, geff, 1.0)
    simt_rate = gpu.fp32_dense_tflops * 1e12 * r.derate * r.rates.memory.simt_frac
    # Degenerate GEMMs (a dimension under 8: depthwise convs, GEMVs, outer products) do not run on
    # tensor cores: cuDNN/cuBLAS use CUDA-core kernels for them (memory-bound in practice).
    degenerate = is_gemm & (np.minimum(np.minimum(gm, gn), gk) < 8)
    rate = np.where(np.isin(r.cat, _GEMM_CATS) & ~degenerate, gemm_rate, simt_rate)
    return np.where(r.flops > 0, r.flops / rate, 0.0), is_gemm


# ---------------------------------------------------------------- stage 2: flash attention

def _attention_compute(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(compute_s, work, is_attn): flash attention at its family fraction and shape efficiency, on the
    causal share of its work (work: FLOPs the kernel spends time on, the FLOPs of every other row), bound
    below by the softmax exponentials."""
    ops, gpu, att = r.ops, r.gpu, r.rates.attention
    is_attn = r.cat == OpCategory.ATTENTION.value
    bwd = _col(ops, "attn_backward", False)
    fwd_frac, bwd_frac = r.rates.attention_fracs[r.cfg.attention]
    afam = np.where(bwd, bwd_frac, fwd_frac)
    aeff = attention_efficiency(_col(ops, "attn_batch"), _col(ops, "attn_heads"), _col(ops, "attn_q"),
                                _col(ops, "attn_dim"), sm_count=gpu.sm_count,
                                seq_half=np.where(bwd, r.rates.bwd_seq_half, att.seq_half), dim_half=att.dim_half)
    causal = causal_work_fraction(_col(ops, "attn_kv"), _col(ops, "attn_causal", False), tile=att.causal_tile,
                                  balance=float(att.causal_balance))
    work = r.flops * np.where(is_attn, causal, 1.0)
    rate = r.peak * afam * np.maximum(aeff, 1e-6)
    compute_s = np.where(work > 0, work / rate, 0.0)
    # softmax exponentials: one per score element, forward and backward (P is recomputed), on the SFU
    # (MUFU.EX2, [attention] exp_per_clk_sm), overlapped with the MMAs. They bind where a head dim gives
    # few MMA FLOPs per score: FlashAttention-4 (Zadouri et al. 2026) finds the B200 forward already limited
    # by them at head dim 128 (MUFU unchanged from Hopper while BF16 MMA went 1 -> 2.25 PFLOP/s); below 128
    # they set the time.
    exp_clk = float(att.exp_per_clk_sm)
    if exp_clk > 0 and gpu.vendor == "nvidia" and is_attn.any():  # the SFU figure is NVIDIA's
        dsum = _col(ops, "attn_dim") + _col(ops, "attn_dim_v")
        n_exp = np.where(is_attn & (dsum > 0), work / (2.0 * np.maximum(dsum, 1.0) * np.where(bwd, 2.0, 1.0)), 0.0)
        exp_rate = gpu.sm_count * gpu.boost_clock_mhz * 1e6 * exp_clk * r.derate * afam
        compute_s = np.where(is_attn, np.maximum(compute_s, n_exp / exp_rate), compute_s)
    return compute_s, work, is_attn


# ---------------------------------------------------------------- stage 3: memory traffic and kernel floors

def _memory(r: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """(memory_s, extra_s): bytes at the achievable bandwidth over each kind's slowdown (unaligned GEMMs at
    their narrower loads), and the separate fp8/fp4 operand casts of low-precision GEMMs."""
    ops, mm = r.ops, r.rates.matmul
    slow_tab = r.rates.memory.category_slowdown
    slowdown = np.array([slow_tab.get(c, slow_tab.get(c.split("/")[0], 1.0)) for c in memory_class(ops)])
    slowdown = np.where(np.isin(r.cat, (*_GEMM_CATS, OpCategory.ATTENTION.value)), 1.0, slowdown)
    narrow = unaligned_factor(ops, r.cat, r.simt, r.rates.unaligned_exponent)
    memory_s = r.nbytes * slowdown / (r.bw * narrow)
    extra_s = np.zeros(ops.height)
    if r.cfg.precision == "fp8":  # quantize bf16 operands to fp8 before each fp8 GEMM (separate kernels)
        gm, gk = _col(ops, "gemm_m"), _col(ops, "gemm_k")
        operands = np.maximum(_col(ops, "gemm_batch"), 1) * gk * (gm + _col(ops, "gemm_n"))
        # fp4 (NVFP4) operands: quantized from bf16 too, at their own cost (fp4_cast_bytes)
        cast_bytes = np.where(r.prec == "fp8", mm.fp8_cast_bytes,
                              np.where(r.prec == "fp4", float(mm.fp4_cast_bytes), 0.0))
        extra_s = operands * cast_bytes / r.bw * (0.5 if r.cfg.compile else 1.0)
    return memory_s, extra_s


def _latency(r: _Rows, is_gemm: np.ndarray, is_attn: np.ndarray) -> np.ndarray:
    """Fixed cost per kernel: the GEMM, attention or memory-bound kernel floor of the row's kind."""
    mem_lat = np.array([r.rates.memory_latency_s(c) for c in r.cat])
    return np.where(is_gemm | (r.cat == OpCategory.MATMUL.value), r.rates.matmul.latency_s,
                    np.where(is_attn, r.rates.attention.latency_s, mem_lat))


def _link(ops: pl.DataFrame) -> np.ndarray:
    """host_copy of each row: "pinned" / "pageable" (over PCIe), "device" (a DtoD memcpy), "" (a kernel)."""
    if "host_copy" not in ops.columns:
        return np.full(ops.height, "", dtype=str)
    return ops.get_column("host_copy").fill_null("").to_numpy().astype(str)


@dataclass(frozen=True)
class _Kernels:
    """Each row's kernels before the execution mode (fusion, host costs, gaps) is applied."""

    cat: np.ndarray
    """Category; host<->device copies as "host_copy" (never fused into a compiled kernel)."""
    compute_s: np.ndarray
    memory_s: np.ndarray
    kernel_s: np.ndarray
    kernels: np.ndarray
    latency: np.ndarray
    sol_comp: np.ndarray
    sol_mem: np.ndarray


def _kernels(r: _Rows) -> _Kernels:
    """Stages 1-3 put together: roofline terms, kernel floors, host copies over PCIe, then convolutions
    priced pass by pass; speed of light of each row."""
    gemm_s, is_gemm = _gemm_compute(r)
    attn_s, work, is_attn = _attention_compute(r)
    compute_s = np.where(is_attn, attn_s, gemm_s)
    memory_s, extra_s = _memory(r)
    latency = _latency(r, is_gemm, is_attn)
    link = _link(r.ops)
    # host<->device copies cross PCIe (model/pcie.py), not HBM
    on_link = np.isin(link, ("pinned", "pageable"))
    moved = transfer_bytes(_col(r.ops, "bytes_read"), _col(r.ops, "bytes_written"))
    cat = r.cat
    if on_link.any():
        memory_s = np.where(on_link, moved / np.maximum(pcie_rate(r.gpu, r.rates.calibration, link), 1.0), memory_s)
        cat = np.where(on_link, "host_copy", cat)
    # memcpys run on the copy engines: their floor is the memcpy's, not a kernel's (`device`: DtoD memcpy)
    latency = np.where(link != "", pcie_params(r.rates.calibration)["latency_s"], latency)
    kernels = r.kernels.copy()
    kernel_s = np.where(kernels > 0, np.maximum(compute_s, memory_s) + extra_s + latency * np.maximum(kernels, 1.0), 0.0)
    _convolutions(r, cat, compute_s, memory_s, kernel_s, kernels)
    sol_comp = np.where(work > 0, work / (r.peak / r.derate), 0.0)
    peak_bw = np.where(on_link, r.gpu.pcie_bw_GBps * 1e9, r.gpu.hbm_bw_GBps * 1e9)
    sol_mem = np.where(on_link, moved, r.nbytes) / peak_bw
    return _Kernels(cat=cat, compute_s=compute_s, memory_s=memory_s, kernel_s=kernel_s, kernels=kernels,
                    latency=latency, sol_comp=sol_comp, sol_mem=sol_mem)


def _convolutions(r: _Rows, cat: np.ndarray, compute_s: np.ndarray, memory_s: np.ndarray, kernel_s: np.ndarray,
                  kernels: np.ndarray) -> None:
    """Overwrite, in place, the rows of the convolutions conv_dims accepts with the passes and kernels
    cuDNN / MIOpen run (conv_times); the others keep the plain GEMM model."""
    rows = np.flatnonzero(cat == OpCategory.CONV.value) if r.conv["passes"] else np.zeros(0, dtype=int)
    dims = conv_dims(r.ops[rows]) if len(rows) else {"ok": np.zeros(0, dtype=bool)}
    if not dims["ok"].any():
        return
    ok = rows[dims["ok"]]
    c_comp, c_mem, c_gpu, c_kern = conv_times(
        {k: v[dims["ok"]] for k, v in dims.items()}, prec=r.prec[ok].astype(str), peak=r.peak[ok], gpu=r.gpu,
        rates=r.rates, conv=r.conv, mm_frac=r.mm_frac, bw=r.bw, derate=r.derate)
    compute_s[ok], memory_s[ok], kernel_s[ok], kernels[ok] = c_comp, c_mem, c_gpu, c_kern


# ---------------------------------------------------------------- stage 4: host issue and the GPU timeline

def _execution(r: _Rows, k: _Kernels) -> dict[str, np.ndarray]:
    """The execution mode on top of the kernels: torch.compile fuses memory-bound chains and drops per-op
    dispatch, CUDA graphs drop launches; host issue and GPU stream then meet on one timeline (gpu_timeline)."""
    host = r.rates.host
    sol = np.maximum(k.sol_comp, k.sol_mem)
    kernel_s, eff_kernels = k.kernel_s, k.kernels.copy()
    if r.cfg.compile:
        kernel_s, eff_kernels, sol = _fuse_chains(k.cat, r.phase, r.nbytes, k.memory_s, k.compute_s, k.kernel_s,
                                                  k.kernels, k.latency, r.rates.compile.fused_bytes_frac,
                                                  k.sol_comp, k.sol_mem, sol)
        host_s = eff_kernels * host.compiled_kernel_s
    else:
        per_op = np.where(r.phase == Phase.BWD.value, host.eager_bwd_op_s, host.eager_op_s)
        host_s = per_op + k.kernels * host.launch_s
    if r.cfg.cuda_graphs:
        host_s = eff_kernels * host.graph_kernel_s
    gap = host.graph_gpu_gap_s if r.cfg.cuda_graphs else host.gpu_gap_s
    gpu_s = kernel_s + eff_kernels * gap
    time_s = np.diff(gpu_timeline(host_s, gpu_s), prepend=0.0)
    return {"time_s": time_s, "gpu_time_s": gpu_s, "kernel_s": kernel_s, "host_time_s": host_s, "sol_time_s": sol,
            "compute_s": k.compute_s, "memory_s": k.memory_s, "eff_kernels": eff_kernels}


def op_times(ops: pl.DataFrame, gpu: GPUSpec | str, cfg: ExecConfig | None = None,
             calib: Calibration | GPURates | None = None) -> pl.DataFrame:
    """Predicted time of every op of an OpGraph table on `gpu` under `cfg` (see module docstring); `calib`
    defaults to the calibration file `cfg.calibration` names."""
    gpu = get_gpu(gpu) if not isinstance(gpu, GPUSpec) else gpu
    cfg = cfg or ExecConfig()
    rates = gpu_rates(gpu, calib, cfg.calibration)
    if ops.height == 0:
        return ops.with_columns(*(pl.lit(None, dtype=pl.Float64).alias(c) for c in _OUT_FLOAT),
                                pl.lit(None, dtype=pl.Utf8).alias("precision"), pl.lit(None, dtype=pl.Utf8).alias("bound_by"))
    r = _rows(ops, gpu, cfg, rates)
    k = _kernels(r)
    out = _execution(r, k)
    bound = _bound_by(out["time_s"], out["gpu_time_s"], k.compute_s, k.memory_s, r.covered)
    return ops.with_columns(
        *(pl.Series(c, out[c], dtype=pl.Float64) for c in _OUT_FLOAT),
        pl.Series("precision", r.prec.astype(str), dtype=pl.Utf8), pl.Series("bound_by", bound.astype(str), dtype=pl.Utf8),
    )


def _bound_by(time_s: np.ndarray, gpu_s: np.ndarray, compute_s: np.ndarray, memory_s: np.ndarray,
              covered: np.ndarray) -> np.ndarray:
    """Latency where host gaps or kernel floors dominate, else the larger roofline term; uncovered ops are
    latency (their work is unknown)."""
    roof = np.maximum(compute_s, memory_s)
    bound = np.where(time_s > 2.0 * gpu_s, BoundBy.LATENCY.value,
                     np.where(gpu_s - roof > roof, BoundBy.LATENCY.value,
                              np.where(compute_s >= memory_s, BoundBy.COMPUTE.value, BoundBy.MEMORY.value)))
    return np.where(covered, bound, BoundBy.LATENCY.value)


def memory_class(ops: pl.DataFrame) -> np.ndarray:
    """Category, with broadcasting elementwise ops apart ("elementwise/broadcast"): PyTorch runs those in
    its non-vectorized elementwise_kernel, about half the bandwidth of the vectorized contiguous path
    (measured on H100 in the calibration traces: broadcast mul ~1.6 TB/s vs contiguous mul ~3.0 TB/s)."""
    bcast = ops.select(
        (pl.col("category") == OpCategory.ELEMENTWISE.value)
        & (pl.col("input_shapes").list.eval(pl.element().filter(pl.element().list.len() > 0)).list.n_unique() > 1)
    ).to_series().fill_null(False).to_numpy()
    cat = ops["category"].to_numpy().astype(str)
    return np.where(bcast, "elementwise/broadcast", cat)


def _fuse_chains(cat: np.ndarray, phase: np.ndarray, nbytes: np.ndarray, memory_s: np.ndarray,
                 compute_s: np.ndarray, gpu_s: np.ndarray, kernels: np.ndarray, latency: np.ndarray,
                 bytes_frac: float, sol_comp: np.ndarray, sol_mem: np.ndarray,
                 sol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch.compile: each maximal run of fusible ops (same phase) becomes one kernel that moves
    `bytes_frac` of the run's bytes; the run's time is shared among its ops by bytes. Speed of light is
    accounted the same way: the fused kernel's (max(sum of FLOPs / peak, fused bytes / peak bandwidth)),
    shared by the same weights, so no op or category runs faster than its speed of light."""
    fusible = np.isin(cat, _FUSIBLE) & (kernels > 0)
    brk = ~fusible | np.concatenate(([True], phase[1:] != phase[:-1]))
    brk |= np.concatenate(([True], ~fusible[:-1]))
    chain = np.cumsum(brk) - 1
    nchain = int(chain[-1]) + 1 if len(chain) else 0
    mem = np.bincount(chain, weights=np.where(fusible, memory_s, 0.0), minlength=nchain)
    comp = np.bincount(chain, weights=np.where(fusible, compute_s, 0.0), minlength=nchain)
    byt = np.bincount(chain, weights=np.where(fusible, nbytes, 0.0), minlength=nchain)
    cnt = np.bincount(chain, weights=fusible.astype(float), minlength=nchain)
    chain_t = np.maximum(mem * bytes_frac, comp) + latency[np.searchsorted(chain, np.arange(nchain))]
    share = np.where(byt[chain] > 0, nbytes / np.maximum(byt[chain], 1e-30), 1.0 / np.maximum(cnt[chain], 1.0))
    fused_gpu = np.where(fusible, chain_t[chain] * share, gpu_s)
    fused_k = np.where(fusible, 1.0 / np.maximum(cnt[chain], 1.0), kernels)
    s_comp = np.bincount(chain, weights=np.where(fusible, sol_comp, 0.0), minlength=nchain)
    s_mem = np.bincount(chain, weights=np.where(fusible, sol_mem, 0.0), minlength=nchain)
    fused_sol = np.where(fusible, np.maximum(s_mem * bytes_frac, s_comp)[chain] * share, sol)
    return fused_gpu, fused_k, fused_sol
