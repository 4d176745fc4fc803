"""The command line as a user meets it: help, errors, capture of zoo and user models."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trainperf", *args], capture_output=True, text=True, cwd=REPO,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})


def test_help_imports_no_torch() -> None:
    # --help stays fast because the CLI never imports torch at start (benchmarks time it; no wall clock here)
    r = run("--help")
    assert r.returncode == 0 and "capture" in r.stdout and "zoo" in r.stdout
    code = "import sys; from trainperf.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_workload_suggests_close_names() -> None:
    r = run("capture", "llama-3.1-8b")
    assert r.returncode == 2
    assert "unknown workload 'llama-3.1-8b'" in r.stderr and "llama3.1-8b" in r.stderr
    assert "Traceback" not in r.stderr


def test_capture_user_model_file(tmp_path: Path) -> None:
    out = tmp_path / "user.parquet"
    r = run("capture", "tests/data/user_model.py:make_workload", "--dtype", "fp32", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    mm = next(c for c in data["by_category"] if c["category"] == "matmul")
    # fwd of both linears, weight grads of both, input grad of the second only (the batch needs no grad)
    assert mm["flops"] == 5 * 2 * 64 * 256 * 512
    assert out.exists()


def test_broken_user_file_shows_the_users_error() -> None:
    r = run("capture", "tests/data/broken_user_model.py:make")
    assert r.returncode == 2
    assert "the user's own bug on line 5" in r.stderr and "broken_user_model.py" in r.stderr
    assert "trainperf/capture" not in r.stderr  # our frames are not shown


def test_missing_user_function_lists_callables() -> None:
    r = run("capture", "tests/data/user_model.py:nope")
    assert r.returncode == 2 and "make_workload" in r.stderr


def test_zoo_json_lists_workloads() -> None:
    r = run("zoo", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert {"llama3.1-8b", "llama3.1-405b"} <= {row["name"] for row in rows}
