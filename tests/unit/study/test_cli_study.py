"""`trainperf study` and `trainperf results` end to end on a small job, and their one-line refusals."""

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from trainperf.cli import app

SMALL = ["study", "llama3.2-1b", "--gpus", "8", "--gbs", "64", "--seq", "2048", "--workers", "0"]


def _ok(args: list[str]) -> str:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, (r.output, r.exception)
    return r.stdout


def test_study_stores_writes_html_and_reads_back(tmp_path: Path) -> None:
    db, html = tmp_path / "r.duckdb", tmp_path / "s.html"
    out = _ok([*SMALL, "--vary", "hbm_bw=1,2", "--vary", "net_bw=1,2", "--db", str(db), "--html", str(html),
               "--json"])
    doc = orjson.loads(out)
    assert len(doc["points"]) == 4 and all(p["status"] == "ok" for p in doc["rows"])
    (job,) = doc["summary"]
    assert -1.0 <= job["e_hbm_bw"] <= 0.0 and -1.0 <= job["e_net_bw"] <= 0.0
    page = html.read_text()
    assert page.lower().startswith("<!doctype html>") and "llama3.2-1b" in page and "<script src=" not in page
    runs = orjson.loads(_ok(["results", "list", "--db", str(db), "--json"]))
    assert [r["kind"] for r in runs] == ["study"] and runs[0]["rows"] == 4
    rid = runs[0]["run_id"]
    shown = orjson.loads(_ok(["results", "show", rid[:5], "--db", str(db), "--json"]))
    assert [p["step_time_s"] for p in shown] == [p["step_time_s"] for p in doc["rows"]]
    cmp = orjson.loads(_ok(["results", "compare", rid, rid, "--db", str(db), "--json"]))
    _ok(["results", "compare", rid, rid, "--db", str(db)])
    assert [c["point"] for c in cmp] == [p["point"] for p in doc["rows"]] and {c["b_over_a"] for c in cmp} == {1.0}


@pytest.mark.parametrize(("extra", "match"), [
    (["--vary", "hbm=2"], "unknown knob"),
    (["--vary", "bf16=0"], "must be a factor"),
    (["--backend", "spark"], "--backend 'spark': choose one of local, ray"),
    (["--gpus", "8,x"], "bad item 'x'"),
    (["--workers", "-1"], "--workers -1"),
    (["--address", "auto"], "--address applies to --backend ray"),
    (["--db", "{tmp}"], "is a folder"),
    (["--html", "{tmp}/no/such/s.html"], "--html"),
    (["--cluster", "no-such-cluster"], "no-such-cluster"),
])
def test_study_refuses_bad_input_in_one_line(tmp_path: Path, extra: list[str], match: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    r = CliRunner().invoke(app, [*SMALL, *args])
    assert r.exit_code != 0 and isinstance(r.exception, ValueError | KeyError | FileNotFoundError), r.output
    assert match in str(r.exception)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_single_gpu_study_refuses_link_knobs() -> None:
    r = CliRunner().invoke(app, ["study", "--gpu", "H100-SXM", "--vary", "net_bw=1,2", "--workers", "0"])
    assert isinstance(r.exception, ValueError) and "single-GPU study" in str(r.exception)


def test_results_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "x.duckdb"
    bad.write_bytes(b"not a database")
    r = CliRunner().invoke(app, ["results", "list", "--db", str(bad)])
    assert isinstance(r.exception, ValueError) and "not a DuckDB results database" in str(r.exception)
    assert bad.read_bytes() == b"not a database"


def test_fleet_db_stores_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    _ok(["fleet", "resnet50", "--flavor", "tiny", "--db", str(db), "--json"])
    runs = orjson.loads(_ok(["results", "list", "--db", str(db), "--json"]))
    assert [(r["kind"], r["rows"]) for r in runs] == [("fleet", 1)]


def test_fleet_cluster_refuses_db(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["fleet", "--cluster", "dgx-h100", "--gpus", "8", "--db", str(tmp_path / "r.db")])
    assert isinstance(r.exception, ValueError) and "--db" in str(r.exception)


def test_single_gpu_study_of_any_network() -> None:
    base = ["study", "resnet50", "--gpu", "H100-SXM", "--flavor", "tiny", "--workers", "0", "--json"]
    doc = orjson.loads(_ok([*base, "--vary", "hbm_bw=1,2"]))
    rows = doc["rows"]
    assert len(rows) == 2 and {r["unit"] for r in rows} == {"sample"} and {r["gpus"] for r in rows} == {1}
    assert all(r["status"] == "ok" and r["layout"].startswith("1 GPU, batch") for r in rows)
    (job,) = doc["summary"]
    # the tiny ResNet is host-bound on an H100 (kernel launches, not bytes): HBM bandwidth does not move it
    assert job["workload"] == "resnet50" and job["e_hbm_bw"] == 0.0 and job["most_sensitive"] == "none"
    assert job["limited_by"].endswith("-bound")
    tight = orjson.loads(_ok([*base, "--vary", "hbm_capacity=0.0001"]))["rows"]
    assert tight[0]["status"] == "infeasible" and "does not fit" in tight[0]["reason"]


def test_study_flavor_needs_one_gpu() -> None:
    r = CliRunner().invoke(app, [*SMALL, "--flavor", "tiny"])
    assert isinstance(r.exception, ValueError) and "--flavor applies to single-GPU studies" in str(r.exception)


def test_single_gpu_seq_applies_to_sequence_models_and_says_so() -> None:
    from trainperf.study.api import select_jobs

    jobs, notes = select_jobs(None, gpus=None, gbs=None, seq=64, precision="bf16", single_gpu=True, flavor="tiny")
    seqs = {j.workload: j.seq for j in jobs}
    assert seqs["llama3.2-1b"] == 64 and seqs["resnet50"] == 0
    assert len(notes) == 1 and "resnet50" in notes[0] and "--seq 64" in notes[0]
    r = CliRunner().invoke(app, ["study", "resnet50", "--gpu", "H100-SXM", "--flavor", "tiny", "--seq", "64",
                                 "--workers", "0"])
    assert isinstance(r.exception, ValueError) and "has a sequence length; drop --seq" in str(r.exception)
