"""benchmarks/gpu_measure.py (the prepared GPU measurement) runs end to end on the CPU, and
benchmarks/bench_gpu_results.py compares a results folder with the model."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import polars as pl

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_measure_on_cpu_writes_timed_kernels_and_a_trace_with_shapes(tmp_path: Path) -> None:
    from trainperf.trace import load_trace

    folder = _load("gpu_measure").main(["--out", str(tmp_path), "--device", "cpu", "--quick", "--budget-s", "30",
                                        "--skip", "steps"])
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["gpu"] == "cpu" and meta["torch"] and meta["date"]
    rows = json.loads((folder / "kernels.json").read_text())["rows"]
    timed = [r for r in rows if "median_s" in r]
    assert len(timed) >= 30 and all(r["median_s"] > 0 for r in timed)
    ops = {r["op"] for r in timed}
    assert {"mm_bfloat16", "conv2d_fwdbwd", "sdpa_fwdbwd", "copy", "adamw_fused_fp32"} <= ops
    mm = next(r for r in timed if r["op"] == "mm_bfloat16")
    assert mm["flops"] == 2.0 * mm["m"] * mm["n"] * mm["k"] and mm["tflops"] > 0
    ev = load_trace(folder / "kernels_trace.json.gz").events
    shaped = ev.filter((pl.col("name") == "aten::mm") & pl.col("shapes").is_not_null())
    assert shaped.height >= len([r for r in timed if r["op"].startswith("mm_")])
    s = json.loads((folder / "sustained.json").read_text())
    assert s["windows"] and s["sustained_over_burst"] > 0


def test_results_compare_per_op_and_per_step(tmp_path: Path, real_traces: Path) -> None:
    """A folder shaped like gpu_measure's output, with a real H100 trace standing in for the microbenchmarks."""
    folder = tmp_path / "NVIDIA-H100-80GB-HBM3_2026-12-01"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"gpu": "NVIDIA H100 80GB HBM3", "driver": "x", "torch": "2.11",
                                                  "date": "2026-12-01"}))
    shutil.copy(real_traces / "tracelens_h100/gaunernst_bert-small-uncased__1016001.json.gz",
                folder / "kernels_trace.json.gz")
    (folder / "steps.json").write_text(json.dumps({"rows": [
        {"workload": "gpt2-124m", "flavor": "tiny", "batch": 2, "seq": 64, "median_step_s": 0.01},
        {"workload": "gpt2-124m", "error": "OutOfMemoryError"}]}))
    bench = _load("bench_gpu_results")
    tab = bench.per_op(folder, "NVIDIA H100 80GB HBM3")
    assert tab is not None
    allrow = tab.filter(pl.col("group") == "all").row(0, named=True)
    assert allrow["n"] > 20 and 0 < allrow["median_abs_err"] < 1
    st = bench.steps(folder, "H100-SXM")
    assert st is not None and st.height == 1 and st["predicted_s"][0] > 0
    assert bench.sustained(folder, "H100-SXM") is None  # no sustained.json in this folder
