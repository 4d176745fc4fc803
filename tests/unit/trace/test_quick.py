"""The small-trace engine (trainperf.trace.quick) gives the polars engine's answer, on every real trace and
fixture it accepts, and `trainperf analyze FILE` reaches it without importing polars or typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import diff
from trainperf.__main__ import _quick_args, quick
from trainperf.trace import analyze
from trainperf.trace.quick import MAX_BYTES, analyze_small, small

ROOT = Path(__file__).resolve().parents[3]
REAL = sorted(p for p in (ROOT / "data" / "traces").rglob("*.json*"))
FIXTURES = sorted(p for p in (ROOT / "tests" / "data" / "traces").rglob("*.json*"))


@pytest.mark.parametrize("path", REAL + FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_answer_as_the_polars_engine(path: Path) -> None:
    q = analyze_small(path)
    if q is None:  # left to the polars engine: large, or something the conservative reader does not take
        assert not small(path) or path.name in {"benchmark_simple_add_et.json.gz", "invalid.json", "truncated.json.gz",
                                                "empty.json", "foreign.json", "no_events.json",
                                                "ns_epoch.json"}  # (ns ts: the unit guess is the polars reader's)
        return
    assert diff(q, analyze(path).to_dict()) == []


def test_the_real_traces_it_takes() -> None:
    taken = [p.name for p in REAL if analyze_small(p) is not None]
    assert len(taken) >= 30  # every real trace below MAX_BYTES but the execution trace (not a Kineto trace)
    assert all(small(p) == (p.name in taken) for p in REAL if p.name != "benchmark_simple_add_et.json.gz")


def test_size_limit_reads_the_gzip_trailer(tmp_path: Path) -> None:
    import gzip

    big = tmp_path / "big.json.gz"
    big.write_bytes(gzip.compress(b'{"traceEvents": [' + b" " * (MAX_BYTES + 1) + b"]}"))
    assert big.stat().st_size < MAX_BYTES and not small(big)
    assert not small(tmp_path)  # a folder


@pytest.mark.parametrize("argv, ok", [
    (["analyze", "t.json"], {"file": "t.json", "json_out": False, "top": 10, "gpu": None}),
    (["analyze", "t.json", "--json", "--top", "3", "--gpu=H100"], {"file": "t.json", "json_out": True, "top": 3,
                                                                   "gpu": "H100"}),
    (["analyze", "t.json", "--html", "r.html"], None), (["analyze", "t.json", "--compare", "u.json"], None),
    (["analyze", "t.json", "--top", "0"], None), (["analyze", "--help"], None), (["analyze"], None),
    (["predict", "gpt2"], None), (["analyze", "a.json", "b.json"], None),
])
def test_which_command_lines_it_answers(argv: list[str], ok: dict[str, Any] | None) -> None:
    assert _quick_args(argv) == ok


def test_cli_json_is_the_full_clis(capsys: pytest.CaptureFixture[str], fixtures: Path) -> None:
    from typer.testing import CliRunner

    from trainperf.cli import app

    f = str(fixtures / "overlap40.json")
    assert quick(["analyze", f, "--json"])
    fast = orjson.loads(capsys.readouterr().out)
    full = orjson.loads(CliRunner().invoke(app, ["analyze", f, "--json"]).output)
    assert diff(fast, full) == [] and fast["tables"]["opportunities"][0]["kind"] == "exposed_communication"
    assert not quick(["analyze", str(fixtures / "bad" / "invalid.json")])  # the full CLI words the error


def test_no_polars_no_typer(fixtures: Path) -> None:
    code = ("import sys; from trainperf.__main__ import quick; "
            f"assert quick(['analyze', {str(fixtures / 'overlap40.json')!r}]); "
            "print(sorted(m for m in ('polars', 'typer', 'pydantic', 'rich', 'torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
