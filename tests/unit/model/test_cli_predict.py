"""`trainperf hw`, `trainperf predict` (on an OpGraph file) and `trainperf calibrate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_graphs import attn, eltwise, gemm, graph
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.model.calibration import load_calibration

runner = CliRunner()


def test_hw_list_and_show() -> None:
    r = runner.invoke(app, ["hw", "list", "--json"])
    assert r.exit_code == 0, r.output
    names = {g["name"] for g in json.loads(r.output)}
    assert {"H100-SXM", "B200", "MI300X", "GB300"} <= names
    r = runner.invoke(app, ["hw", "show", "NVIDIA H100 80GB HBM3", "--json"])
    d = json.loads(r.output)
    assert d["name"] == "H100-SXM" and d["measured"]["matmul_tflops"]["value"] == 798.0
    assert "datasheet" in d["sources"]["hbm_bw_GBps"]
    r = runner.invoke(app, ["hw", "show", "H100-SXM"])
    assert r.exit_code == 0 and "3350" in r.output


def test_predict_an_opgraph_file(tmp_path: Path) -> None:
    p = tmp_path / "step.parquet"
    graph([gemm(4096, 4096, 4096), eltwise(2**24), attn(2, 16, 2048, 128),
           gemm(4096, 4096, 4096, phase="bwd")]).write_parquet(p)
    r = runner.invoke(app, ["predict", str(p), "--gpu", "H100-SXM", "--json", "--ops"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["gpu"] == "H100-SXM" and 0 < d["mfu"] <= 1 and d["step_time_s"] > 0 and len(d["ops"]) == 4
    assert {c["category"] for c in d["categories"]} == {"matmul", "elementwise", "attention"}
    r2 = json.loads(runner.invoke(app, ["predict", str(p), "--gpu", "B200", "--json", "--compile", "--cuda-graphs"]).output)
    assert r2["step_time_s"] < d["step_time_s"] and r2["mode"] == "compile+graphs"
    r3 = json.loads(runner.invoke(app, ["predict", str(p), "--gpu", "H100-SXM", "--json", "--scale", "flops=2,hbm_bw=2"]).output)
    assert r3["gpu"] == "H100-SXM[flops=2,hbm_bw=2]" and r3["step_time_s"] < d["step_time_s"]
    r4 = json.loads(runner.invoke(app, ["predict", str(p), "--gpu", "H100-SXM", "--json", "--burst"]).output)
    assert d["sustained"] and not r4["sustained"] and r4["step_time_s"] < d["step_time_s"]
    assert r4["mode"] == "eager, burst clocks"
    r = runner.invoke(app, ["predict", str(p), "--gpu", "H100-SXM", "--scale", "hbm_bw"])
    assert r.exit_code != 0 and "KEY=FACTOR" in str(r.exception)
    r = runner.invoke(app, ["predict", str(p), "--gpu", "H100-SXM", "--ops", "--top", "3"])
    assert r.exit_code == 0 and "MFU" in r.output and "by category" in r.output


def test_calibrate_on_the_h100_traces(real_traces: Path, tmp_path: Path) -> None:
    out = tmp_path / "cal.toml"
    r = runner.invoke(app, ["calibrate", str(real_traces / "tracelens_h100"), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    after = {x["group"]: x for x in d["after"]}
    assert d["gpu"] == "H100-SXM" and after["all"]["n"] > 1000
    assert after["matmul"]["median_abs_err"] < 0.15 and after["memory-bound"]["median_abs_err"] < 0.2
    cal = load_calibration(out)
    assert cal.for_family("hopper").host.launch_s == pytest.approx(d["fit"]["host.launch_s"])
    assert "[fit.hopper]" in out.read_text()
