"""`trainperf calibrate`: fit the model's efficiency parameters to measured per-op kernel times.

Input: Kineto traces recorded with shapes (model/trace_ops.py, on trainperf.trace.load_trace). Fitted, by small grid searches that
minimize the median |log(predicted / measured)| of per-op kernel time:
  matmul.k_half, matmul.latency_s          on GEMM ops
  attention.seq_half, latency_s            on flash-attention ops (the large-shape rates stay published values)
  memory.category_latency_s[c], category_slowdown[c]   per memory-bound category (slowdown only where the
                                           measured sizes span >= 8x)
  host.launch_s, host.free_op_s            medians of cudaLaunchKernel and view-op durations
  host.eager_op_s, host.eager_bwd_op_s     median cpu_op duration less its launches, of the launching ops on
                                           the Python thread (forward) and on other threads (backward)
The result is written as a [fit] table on top of the base calibration, with its sources.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from trainperf.hardware import GPUSpec, get_gpu
from trainperf.model.calibration import DEFAULT_CALIBRATION, Calibration, load_calibration
from trainperf.model.config import ExecConfig
from trainperf.model.ops import achievable, memory_class, op_times
from trainperf.model.trace_ops import TraceOps, read_trace_ops

_MEM_CATS = ("elementwise", "copy", "norm", "reduction", "embedding")
_MEM_CLASSES = (*_MEM_CATS, "elementwise/broadcast")
GROUPS = {"matmul": ("matmul", "conv"), "attention": ("attention",), "memory-bound": _MEM_CATS}


@dataclass(frozen=True)
class CalibrationResult:
    gpu: str
    traces: list[str]
    fit: dict[str, Any]
    before: pl.DataFrame
    """Per-group n, median and p90 |error| with the base calibration."""
    after: pl.DataFrame
    """Same with the fitted calibration."""
    calibration: Calibration


def predict_kernels(ops: pl.DataFrame, gpu: GPUSpec, calib: Calibration) -> np.ndarray:
    """Predicted kernel time (no gaps, no host) of each measured op."""
    # traces: burst clocks; rows without a math dtype (memory-bound) need a 16-bit precision the part has
    cfg = ExecConfig(sustained=False, precision="bf16" if gpu.has_precision("bf16") else "fp16")
    return op_times(ops, gpu, cfg, calib)["kernel_s"].to_numpy()


def error_table(ops: pl.DataFrame, pred: np.ndarray) -> pl.DataFrame:
    """n, median and p90 of |pred - measured| / measured per group of categories."""
    meas = ops["measured_s"].to_numpy()
    err = np.abs(pred - meas) / meas
    cat = ops["category"].to_numpy().astype(str)
    rows = []
    for g, cats in {**GROUPS, "all": tuple(set(cat))}.items():
        m = np.isin(cat, cats)
        if m.any():
            rows.append({"group": g, "n": int(m.sum()), "median_abs_err": float(np.median(err[m])),
                         "p90_abs_err": float(np.quantile(err[m], 0.9)),
                         "measured_s": float(meas[m].sum()), "predicted_s": float(pred[m].sum())})
    return pl.DataFrame(rows)


def _score(ops: pl.DataFrame, gpu: GPUSpec, calib: Calibration, mask: np.ndarray) -> float:
    pred = np.maximum(predict_kernels(ops, gpu, calib)[mask], 1e-9)
    meas = ops["measured_s"].to_numpy()[mask]
    return float(np.median(np.abs(np.log(pred / meas))))


def _grid(ops: pl.DataFrame, gpu: GPUSpec, calib: Calibration, mask: np.ndarray,
          grid: dict[str, Sequence[Any]]) -> dict[str, Any]:
    best: tuple[float, dict[str, Any]] = (float("inf"), {})
    for values in itertools.product(*grid.values()):
        trial = dict(zip(grid, values, strict=True))
        s = _score(ops, gpu, calib.with_fit(trial), mask)
        if s < best[0]:
            best = (s, trial)
    return best[1]


def fit(traces: Sequence[TraceOps], base: Calibration | None = None) -> CalibrationResult:
    """Fit efficiency parameters to the measured ops of traces taken on one GPU model."""
    if not traces:
        raise ValueError("calibrate needs at least one trace recorded with shapes (record_shapes=True)")
    devices = {t.device for t in traces}
    # deviceProperties identify parts whose device name is shared (ROCm's "AMD Radeon Graphics")
    gpus = {get_gpu(t.device_props or t.device).name for t in traces if t.device}
    if len(gpus) != 1:
        raise ValueError(f"traces come from {sorted(devices) or 'unknown devices'}; calibrate one GPU model at a time")
    gpu = get_gpu(gpus.pop())
    base = (base or load_calibration()).for_gpu(gpu.family, gpu.vendor)
    ops = pl.concat([t.ops for t in traces], how="vertical_relaxed").filter(pl.col("measured_s") > 0)
    if ops.height == 0:
        raise ValueError("no measured ops with shapes found; record the trace with record_shapes=True")
    cat = ops["category"].to_numpy().astype(str)
    fitted: dict[str, Any] = {}
    calib = base

    mem = np.isin(cat, _MEM_CATS)
    if mem.any():
        # Per category: t = latency_c + slowdown_c x bytes / achievable bw. Both are fitted where the ops'
        # sizes span >= 8x; otherwise the slowdown keeps its prior and only the latency is fitted.
        _, bw = achievable(gpu, calib)
        slow = dict(calib.memory.category_slowdown)
        lats = dict(calib.memory.category_latency_s)
        nbytes = (ops["bytes_read"] + ops["bytes_written"]).to_numpy()
        meas = ops["measured_s"].to_numpy()
        klass = memory_class(ops)
        lat_grid = np.arange(0.75e-6, 5.01e-6, 0.25e-6)
        for c in _MEM_CLASSES:
            m = mem & (klass == c) & (nbytes > 0)
            if m.sum() < 3:
                continue
            x = nbytes[m] / bw
            spans = x.max() / max(x.min(), 1e-30) >= 8.0
            slows = np.arange(0.8, 4.01, 0.05) if spans else np.array([slow.get(c, 1.0)])
            L, S = np.meshgrid(lat_grid, slows, indexing="ij")
            pred = L[..., None] + S[..., None] * x[None, None, :]
            score = np.median(np.abs(np.log(pred / meas[m][None, None, :])), axis=-1)
            i, j = np.unravel_index(np.argmin(score), score.shape)
            slow[c] = round(float(S[i, j]), 3)
            if "/" not in c:  # sub-classes share their category's latency
                lats[c] = float(L[i, j])
        fitted.update({"memory.category_latency_s": lats, "memory.category_slowdown": slow})
        calib = calib.with_fit(fitted)

    mm = np.isin(cat, GROUPS["matmul"])
    if mm.any():
        fitted.update(_grid(ops, gpu, calib, mm, {"matmul.k_half": [16.0, 32.0, 64.0, 96.0, 128.0, 192.0, 256.0, 384.0, 512.0, 768.0, 1024.0],
                                                  "matmul.latency_s": list(np.arange(1.0e-6, 8.01e-6, 0.5e-6))}))
        calib = calib.with_fit(fitted)

    at = cat == "attention"
    if at.any():
        # The large-shape rates (fwd_frac, bwd_frac) stay at their published values (calibration sources);
        # the traces fit how fast short sequences ramp up to them, and the fixed latency.
        fitted.update(_grid(ops, gpu, calib, at, {"attention.seq_half": [0.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
                                                  "attention.latency_s": list(np.arange(1.0e-6, 8.01e-6, 0.5e-6))}))
        calib = calib.with_fit(fitted)

    launches = [x for t in traces for x in t.launch_durations_s]
    frees = [x for t in traces for x in t.free_op_durations_s]
    if launches:
        fitted["host.launch_s"] = float(np.median(launches))
    if frees:
        fitted["host.free_op_s"] = float(np.median(frees))
    # Per-op dispatch (Python + dispatcher + autograd recording, or the autograd engine's work in backward):
    # a launching op's cpu_op duration less its launch calls, median per thread kind (the Python thread runs
    # forward ops, the autograd engine's threads backward ones). Time spent in Python between ops is not in
    # any cpu_op and is not counted.
    for key, main in (("host.eager_op_s", True), ("host.eager_bwd_op_s", False)):
        d = ops.filter(pl.col("main_thread").fill_null(True) == main).select(pl.col("cpu_s") - pl.col("launch_s")).to_series()
        d = d.filter(d > 0)
        if d.len() >= 3:
            fitted[key] = float(d.median())  # type: ignore[arg-type]
    calib = calib.with_fit(fitted)
    before = error_table(ops, predict_kernels(ops, gpu, base))
    after = error_table(ops, predict_kernels(ops, gpu, calib))
    return CalibrationResult(gpu=gpu.name, traces=[t.path for t in traces], fit=fitted, before=before, after=after,
                             calibration=calib)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else f'"{k}"'


def _toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, float | np.floating):
        return repr(round(float(v), 9))
    return repr(v)


def write_calibration(result: CalibrationResult, out: str | Path, base_path: str | Path | None = None) -> Path:
    """Write the base calibration file with this GPU family's [fit.<family>] table (and its source); the
    other families' fit tables are kept."""
    base_text = Path(base_path or DEFAULT_CALIBRATION).read_text()
    family = get_gpu(result.gpu).family
    parts = re.split(r"(?m)^(?=\[fit\.)", base_text)
    head = parts[0].rstrip() + "\n"
    kept = ["\n" + x.rstrip() + "\n" for x in parts[1:] if not x.startswith(f"[fit.{family}]")]
    lines = ["", f"[fit.{family}]", f"# fitted by `trainperf calibrate` on {result.gpu} from: "
             + ", ".join(Path(t).name for t in result.traces)]
    lines += [f'"{k}" = {_toml_value(v)}' for k, v in result.fit.items()]
    from trainperf.report.output import write_atomic

    out = Path(out)
    text = head + "".join(kept) + "\n".join(lines) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text)
        load_calibration(tmp)  # validate before it replaces anything the user had

    write_atomic(out, write)
    return out


def trace_files(paths: Sequence[str | Path]) -> list[Path]:
    """Trace files named by `paths`: files, and the *.json / *.json.gz files of folders."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(x for x in p.iterdir() if x.name.endswith((".json", ".json.gz")))
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such trace file or folder")
    if not files:
        raise ValueError(f"no trace files (*.json, *.json.gz) in {', '.join(map(str, paths))}")
    return files


def calibrate(paths: Sequence[str | Path], out: str | Path | None = None,
              base: str | Path | None = None) -> CalibrationResult:
    """Read traces (files or folders of *.json / *.json.gz), fit, and optionally write the calibration TOML."""
    res = fit([read_trace_ops(f) for f in trace_files(paths)], load_calibration(base))
    if out is not None:
        write_calibration(res, out, base)
    return res
