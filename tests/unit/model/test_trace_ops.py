"""Measured per-op kernel times from traces (model/trace_ops.py on trainperf.trace.load_trace)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainperf.model.calibrate import fit
from trainperf.model.trace_ops import read_trace_ops


def _trace(tmp_path: Path, props: list[dict[str, Any]] | None = None) -> Path:
    """One aten::mm (two kernels from two launches), a view op and an op recorded without shapes."""
    ev: list[dict[str, Any]] = [
        {"ph": "X", "cat": "cpu_op", "name": "aten::linear", "pid": 1, "tid": 1, "ts": 100.0, "dur": 50.0,
         "args": {"External id": 1}},
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 101.0, "dur": 30.5,
         "args": {"External id": 2, "Input Dims": [[64, 128], [128, 256]], "Input type": ["float", "float"],
                  "Concrete Inputs": ["", ""]}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 105.0, "dur": 4.25,
         "args": {"External id": 2, "correlation": 10}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 111.0, "dur": 3.75,
         "args": {"External id": 2, "correlation": 11}},
        {"ph": "X", "cat": "cpu_op", "name": "aten::view", "pid": 1, "tid": 1, "ts": 140.0, "dur": 1.5,
         "args": {"External id": 3, "Input Dims": [[64, 256], []], "Input type": ["float", "IntList"],
                  "Concrete Inputs": ["", "[-1]"]}},
        {"ph": "X", "cat": "cpu_op", "name": "aten::relu", "pid": 1, "tid": 1, "ts": 150.0, "dur": 8.0,
         "args": {"External id": 4}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 152.0, "dur": 4.0,
         "args": {"External id": 4, "correlation": 12}},
        {"ph": "X", "cat": "kernel", "name": "gemm_a", "pid": 0, "tid": 7, "ts": 120.0, "dur": 7.125,
         "args": {"correlation": 10, "device": 0, "stream": 7}},
        {"ph": "X", "cat": "kernel", "name": "gemm_b", "pid": 0, "tid": 7, "ts": 128.0, "dur": 2.5,
         "args": {"correlation": 11, "device": 0, "stream": 7}},
        {"ph": "X", "cat": "kernel", "name": "relu_kernel", "pid": 0, "tid": 7, "ts": 160.0, "dur": 1.0,
         "args": {"correlation": 12, "device": 0, "stream": 7}},
    ]
    doc = {"schemaVersion": 1, "deviceProperties": props or [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132}],
           "traceEvents": ev}
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    return p


def test_kernels_are_summed_per_innermost_op_with_their_launches(tmp_path: Path) -> None:
    t = read_trace_ops(_trace(tmp_path))
    assert t.device == "NVIDIA H100 80GB HBM3" and t.device_props["numSms"] == 132
    assert t.ops.height == 1  # aten::relu launched a kernel but was recorded without shapes: not priced
    r = t.ops.row(0, named=True)
    assert r["op"] == "aten::mm" and r["category"] == "matmul" and (r["gemm_m"], r["gemm_n"], r["gemm_k"]) == (64, 256, 128)
    assert r["measured_kernels"] == 2 and r["measured_s"] == pytest.approx(9.625e-6)
    assert r["launch_s"] == pytest.approx(8.0e-6) and r["cpu_s"] == pytest.approx(30.5e-6)
    assert t.launch_durations_s == pytest.approx([4.25e-6, 3.75e-6, 4.0e-6])
    assert t.free_op_durations_s == pytest.approx([1.5e-6])  # the view; aten::linear is no view op


def test_device_properties_pick_the_gpu_when_the_name_is_shared(tmp_path: Path) -> None:
    props = [{"id": 0, "name": "AMD Radeon Graphics", "numSms": 104, "totalGlobalMem": 68702699520,
              "computeMajor": 9, "computeMinor": 0}]
    assert fit([read_trace_ops(_trace(tmp_path, props))]).gpu == "MI250-GCD"


def test_unreadable_trace_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.json.gz"
    p.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"bad\.json\.gz"):
        read_trace_ops(p)
