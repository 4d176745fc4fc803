"""`trainperf calibrate TRACES... --check`: price every op of real traces with the current calibration and
say how far the model is from what was measured, per op and per profiler step. Fits nothing.

Per op: signed error (predicted - measured) / measured of kernel time (burst clocks, as traces run), its
median, the median and p90 of |error|, per op category and over all priced ops.
Per step: measured GPU busy time (the union of the step's kernel, memcpy and memset intervals, each kernel in
the step of its launch) against the predicted GPU time of the same step's ops: priced ops at their
predicted kernel time, unpriced ops (model/trace_ops.py: no shapes, unrecorded shapes, no formula, no
cpu_op) at the floor that `trainperf predict` gives an op without a cost formula (one kernel latency per
kernel). The step figures are the medians over all steps of all traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from trainperf.hardware import GPUSpec, get_gpu
from trainperf.model.calibrate import predict_kernels, trace_files
from trainperf.model.calibration import Calibration, load_calibration
from trainperf.model.trace_ops import TraceOps, read_trace_ops


def _stats(err: np.ndarray) -> dict[str, Any]:
    if not len(err):
        return {"n": 0, "median": None, "p90": None, "signed_median": None}
    a = np.abs(err)
    return {"n": len(err), "median": float(np.median(a)), "p90": float(np.quantile(a, 0.9)),
            "signed_median": float(np.median(err))}


def _trace_gpu(t: TraceOps, gpu: GPUSpec | None) -> GPUSpec:
    if gpu is not None:
        return gpu
    if not (t.device_props or t.device):
        raise ValueError(f"{t.path}: the trace names no GPU (no deviceProperties); pass --gpu NAME")
    return get_gpu(t.device_props or t.device)


def check_traces(traces: Sequence[TraceOps], gpu: GPUSpec | str | None = None,
                 calib: Calibration | None = None) -> dict[str, Any]:
    """The --check report (module docstring) of traces already read; `gpu` overrides the traces' own."""
    spec = get_gpu(gpu) if isinstance(gpu, str) else gpu
    calib = calib or load_calibration()
    errs: list[np.ndarray] = []
    cats: list[np.ndarray] = []
    unpriced: list[pl.DataFrame] = []
    steps: list[dict[str, Any]] = []
    n_ops = 0
    gpus: set[str] = set()
    for t in traces:
        g = _trace_gpu(t, spec)
        gpus.add(g.name)
        ops = t.ops.filter(pl.col("measured_s") > 0)
        pred = predict_kernels(ops, g, calib) if ops.height else np.zeros(0)
        meas = ops["measured_s"].to_numpy()
        errs.append((pred - meas) / meas)
        cats.append(ops["category"].to_numpy().astype(str))
        n_ops += ops.height + t.unpriced.height
        unpriced.append(t.unpriced)
        floor = float(calib.rates(g.family, g.vendor).memory.latency_s)
        pred_step = (pl.DataFrame({"step": ops["step"], "p": pred}).group_by("step").agg(pl.col("p").sum())
                     if ops.height else pl.DataFrame(schema={"step": pl.Int64, "p": pl.Float64}))
        floor_step = t.unpriced.group_by("step").agg(f=pl.col("kernels").sum() * floor)
        p_by = dict(pred_step.iter_rows())
        f_by = dict(floor_step.iter_rows())
        for s, busy in t.step_busy_s.items():
            p = float(p_by.get(s, 0.0) + f_by.get(s, 0.0))
            steps.append({"trace": Path(t.path).name, "step": s, "measured_gpu_busy_s": busy, "predicted_s": p,
                          "ratio": p / busy if busy > 0 else None})
    err = np.concatenate(errs) if errs else np.zeros(0)
    cat = np.concatenate(cats) if cats else np.zeros(0, dtype=str)
    up = pl.concat(unpriced) if unpriced else pl.DataFrame()
    up_rows = ([] if not up.height else
               up.group_by("name").agg(count=pl.len(), time_s=pl.col("measured_s").sum())
               .sort("time_s", "name", descending=[True, False]).to_dicts())
    ratios = [s["ratio"] for s in steps if s["ratio"] is not None]
    step = {"n": len(steps),
            "measured_gpu_busy_s": float(np.median([s["measured_gpu_busy_s"] for s in steps])) if steps else None,
            "predicted_s": float(np.median([s["predicted_s"] for s in steps])) if steps else None,
            "ratio": float(np.median(ratios)) if ratios else None}
    return {"ops": n_ops, "gpu": sorted(gpus), "unpriced": up_rows,
            "by_category": {c: _stats(err[cat == c]) for c in sorted(set(cat.tolist()))},
            "all": _stats(err), "step": step, "steps": steps}


def check(paths: Sequence[str | Path], gpu: str | None = None, calibration: str | Path | None = None) -> dict[str, Any]:
    """Read traces (files or folders) and report how the current calibration prices them (check_traces)."""
    return check_traces([read_trace_ops(f) for f in trace_files(paths)], gpu, load_calibration(calibration))
