"""Terminal, JSON and HTML output of `trainperf analyze`."""

from pathlib import Path

import orjson
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.report.trace_html import render_html
from trainperf.trace import analyze


def test_cli_text_json_html(tmp_path: Path, fixtures: Path) -> None:
    html = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["analyze", str(fixtures / "overlap40.json"), "--html", str(html)])
    assert r.exit_code == 0, r.output
    assert "What to fix first" in r.output and "Communication not hidden under compute" in r.output
    page = html.read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") >= 4
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    r = CliRunner().invoke(app, ["analyze", str(fixtures / "overlap40.json"), "--json"])
    d = orjson.loads(r.output)
    assert d["gpu"] == "H100-SXM" and d["tables"]["overlap"][0]["overlap"] == 0.4
    assert d["tables"]["opportunities"][0]["kind"] == "exposed_communication"


def test_cli_compare(fixtures: Path) -> None:
    r = CliRunner().invoke(app, ["analyze", str(fixtures / "overlap40.json"), "--compare",
                                 str(fixtures / "sync.json.gz"), "--json"])
    assert r.exit_code == 0, r.output
    parts = {row["part"]: row for row in orjson.loads(r.output)["tables"]["temporal"]}
    assert parts["idle_sync"]["b_ns"] == 10_000


def test_unknown_gpu_is_a_clear_error(fixtures: Path) -> None:
    r = CliRunner().invoke(app, ["analyze", str(fixtures / "overlap40.json"), "--gpu", "NoSuchGPU"])
    assert r.exit_code != 0 and "unknown GPU 'NoSuchGPU'" in str(r.exception)


def test_html_roofline_has_one_point_per_priced_op(traces: Path) -> None:
    a = analyze(traces / "tracelens_h100" / "gaunernst_bert-small-uncased__1016001.json.gz")
    page = render_html(a)
    n = a.sol.filter("covered").filter((a.sol["flops"] > 0) & (a.sol["bytes"] > 0)).height
    assert page.count("<circle") == n > 10
