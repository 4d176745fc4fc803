"""Every -o of capture / calibrate / profile refuses an input or a folder before any work, and says when it
replaces a file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from trainperf.cli import app


def test_capture_output_refuses_a_folder_and_announces_replace(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["capture", "gpt2-124m", "--flavor", "tiny", "-o", str(tmp_path)])
    assert isinstance(r.exception, ValueError) and "is a folder" in str(r.exception)
    out = tmp_path / "step.parquet"
    out.write_text("old")
    r = CliRunner().invoke(app, ["capture", "gpt2-124m", "--flavor", "tiny", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"replaced {out}" in r.output and out.read_bytes()[:4] == b"PAR1"


def test_calibrate_output_cannot_be_an_input_trace(real_traces: Path) -> None:
    trace = next(real_traces.rglob("*.json.gz"))
    before = trace.read_bytes()
    r = CliRunner().invoke(app, ["calibrate", str(trace), "-o", str(trace)])
    assert isinstance(r.exception, ValueError) and "also an input" in str(r.exception)
    assert trace.read_bytes() == before


def test_profile_trace_path_that_is_a_folder_is_refused_before_running(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["profile", "gpt2-124m", "-o", str(tmp_path)])
    assert isinstance(r.exception, ValueError) and "is a folder" in str(r.exception)
