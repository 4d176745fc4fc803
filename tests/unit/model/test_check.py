"""`trainperf calibrate --check` (model/check.py) and unpriced ops in model/trace_ops.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.hardware import get_gpu
from trainperf.model.calibrate import predict_kernels
from trainperf.model.calibration import load_calibration
from trainperf.model.check import check, check_traces
from trainperf.model.trace_ops import read_trace_ops, shapes_unrecorded


def _op(name: str, ts: float, ext: int, dims: Any = None, types: Any = None, dur: float = 5.0) -> dict[str, Any]:
    args: dict[str, Any] = {"External id": ext}
    if dims is not None:
        args.update({"Input Dims": dims, "Input type": types, "Concrete Inputs": [""] * len(dims)})
    return {"ph": "X", "cat": "cpu_op", "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur, "args": args}


def _launch(ts: float, ext: int, corr: int) -> dict[str, Any]:
    return {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": ts, "dur": 2.0,
            "args": {"External id": ext, "correlation": corr}}


def _kernel(name: str, ts: float, dur: float, corr: int) -> dict[str, Any]:
    return {"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7, "ts": ts, "dur": dur,
            "args": {"correlation": corr, "device": 0, "stream": 7}}


def _trace(tmp_path: Path) -> Path:
    """One profiler step: a priced bf16 mm (two kernels), a cat whose tensor list Kineto wrote as [] and an
    arange (no tensor shapes: a 0-byte op if priced) both unpriced; plus a kernel launched before the trace."""
    ev = [
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#3", "pid": 1, "tid": 1, "ts": 100.0, "dur": 200.0},
        _op("aten::mm", 110.0, 2, [[4096, 4096], [4096, 4096]], ["c10::BFloat16", "c10::BFloat16"]),
        _launch(111.0, 2, 10), _kernel("gemm", 120.0, 200.0, 10),
        _op("aten::cat", 130.0, 3, [[], []], ["TensorList", "Scalar"]),
        _launch(131.0, 3, 11), _kernel("cat_kernel", 330.0, 10.0, 11),
        _op("aten::arange", 140.0, 4, [[], [], []], ["Scalar", "Scalar", "Scalar"]),
        _launch(141.0, 4, 12), _kernel("arange_kernel", 345.0, 5.0, 12),
        _kernel("old_kernel", 90.0, 7.0, 3),  # its launch (correlation 3) precedes the trace
    ]
    doc = {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132}],
           "traceEvents": ev}
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    return p


def test_tensor_lists_written_as_empty_are_unrecorded() -> None:
    assert shapes_unrecorded([[], []], ["TensorList", "Scalar"])
    assert not shapes_unrecorded([[[2, 3], [2, 3]], []], ["TensorList", "Scalar"])
    assert not shapes_unrecorded([[2, 3]], ["float"])


def test_ops_without_shapes_are_unpriced_not_zero_byte(tmp_path: Path) -> None:
    t = read_trace_ops(_trace(tmp_path))
    assert t.ops["op"].to_list() == ["aten::mm"]
    up = {r["name"]: r for r in t.unpriced.iter_rows(named=True)}
    assert up["aten::cat"]["reason"] == "shapes unrecorded" and up["aten::cat"]["step"] == 3
    assert up["aten::arange"]["reason"] == "shapes unrecorded"  # its formula found 0 bytes: no output recorded
    old = up["launched before the trace: old_kernel"]
    assert old["reason"] == "no launch" and old["step"] is None
    # busy = union of the step's kernels: [120, 320) + [330, 340) + [345, 350) us; the old kernel is in no step
    assert t.step_busy_s == {3: pytest.approx(215e-6)}
    assert t.steps_cpu_s == {3: pytest.approx(200e-6)}


def test_check_report_prices_ops_and_steps(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    rep = check([path])
    t = read_trace_ops(path)
    gpu = get_gpu("H100-SXM")
    calib = load_calibration()
    pred_mm = float(predict_kernels(t.ops, gpu, calib)[0])
    assert rep["ops"] == 4 and rep["gpu"] == ["H100-SXM"]
    assert rep["all"]["n"] == 1 and rep["all"]["signed_median"] == pytest.approx(pred_mm / 200e-6 - 1)
    assert rep["by_category"]["matmul"]["median"] == pytest.approx(abs(pred_mm / 200e-6 - 1))
    # unpriced ops in the step at one kernel latency each (as `predict` times an op without a formula)
    floor = calib.rates(gpu.family, gpu.vendor).memory.latency_s
    assert rep["step"]["predicted_s"] == pytest.approx(pred_mm + 2 * floor)
    assert rep["step"]["ratio"] == pytest.approx((pred_mm + 2 * floor) / 215e-6)
    assert {u["name"] for u in rep["unpriced"]} == {"aten::cat", "aten::arange", "launched before the trace: old_kernel"}
    assert check_traces([t], "A100-SXM-80GB")["gpu"] == ["A100-SXM-80GB"]  # --gpu overrides the trace's own


def test_check_cli_json_and_bad_flags(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    r = CliRunner().invoke(app, ["calibrate", str(path), "--check", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert {"ops", "unpriced", "by_category", "all", "step"} <= rep.keys()
    assert {"measured_gpu_busy_s", "predicted_s", "ratio"} <= rep["step"].keys()
    assert {"n", "median", "p90", "signed_median"} == rep["all"].keys()
    with pytest.raises(ValueError, match="--check fits nothing"):
        CliRunner().invoke(app, ["calibrate", str(path), "--check", "-o", str(tmp_path / "x.toml")],
                           catch_exceptions=False)
    with pytest.raises(ValueError, match="--gpu applies to --check only"):
        CliRunner().invoke(app, ["calibrate", str(path), "--gpu", "H100-SXM"], catch_exceptions=False)


def test_calibrate_fits_host_dispatch_from_a_real_trace(real_traces: Path) -> None:
    # Independently of trace_ops: the median over the cpu_ops that launched kernels of (op duration - its
    # launch calls' durations), from the Qwen H100 trace's raw events (one Python thread: forward only)
    import numpy as np
    import polars as pl

    from trainperf.model.calibrate import fit
    from trainperf.trace import load_trace

    path = real_traces / "tracelens_h100" / "Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"
    t = read_trace_ops(path)
    res = fit([t])
    assert "host.eager_bwd_op_s" not in res.fit  # no autograd-engine thread in this trace
    ev = load_trace(path).events
    launches = ev.filter(pl.col("name").str.contains("Launch")).select("rank", launch_idx="idx", call="dur")
    k = (ev.filter(pl.col("gpu") & pl.col("op_idx").is_not_null()).select("rank", "op_idx", "launch_idx")
         .join(launches, on=["rank", "launch_idx"], how="left").group_by("rank", "op_idx")
         .agg(call=pl.col("call").fill_null(0).sum()))
    ops = ev.filter(pl.col("cat") == "cpu_op").select("rank", op_idx="idx", dur="dur", shapes="shapes")
    d = k.join(ops, on=["rank", "op_idx"]).filter(pl.col("shapes").is_not_null())
    disp = (d["dur"] - d["call"]).to_numpy() / 1e9
    # the fit uses the priced ops only (a subset): same median within a microsecond
    assert res.fit["host.eager_op_s"] == pytest.approx(float(np.median(disp[disp > 0])), abs=1e-6)
    assert 2e-6 < res.fit["host.eager_op_s"] < 20e-6  # PyTorch eager dispatch: a few us per op
    assert res.fit["host.launch_s"] == pytest.approx(float(np.median(t.launch_durations_s)))
