from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from trainperf.cli import app

runner = CliRunner()


def test_validate_cli_writes_the_fixed_columns(published_csv: Path, tmp_path: Path) -> None:
    src = pl.read_csv(published_csv, infer_schema_length=0)
    small = tmp_path / "rows.csv"
    src.filter(pl.col("id").is_in(["foundry-001", "mbridge-004", "nemo2407-005"])).write_csv(small)
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["validate", str(small), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "supported 2" in r.output and "median" in r.output
    df = pl.read_csv(out)
    assert df.columns == ["id", "predicted_tokens_per_s_per_gpu", "predicted_step_time_s", "predicted_mfu",
                          "predicted_mem_gib", "status", "reason", "memory_fits", "measured_tokens_per_s_per_gpu",
                          "rel_error"]
    assert dict(zip(df["id"], df["status"], strict=True)) == {
        "foundry-001": "ok", "mbridge-004": "unsupported", "nemo2407-005": "ok"}


def test_measured_run_the_memory_model_rejects_is_priced_and_flagged(published_csv: Path) -> None:
    from trainperf.validation.validate import read_rows, summarize, validate_rows

    rows = [r for r in read_rows(published_csv) if r["id"] == "torchtitan-042"]
    res = validate_rows(rows)
    row = res.row(0, named=True)
    assert row["status"] == "ok" and row["memory_fits"] is False and row["predicted_step_time_s"] > 0
    assert "memory model miss" in row["reason"] and row["predicted_mem_gib"] > 78
    assert summarize(res).memory_misses == 1


def test_validate_cli_json(published_csv: Path, tmp_path: Path) -> None:
    import orjson

    src = pl.read_csv(published_csv, infer_schema_length=0)
    small = tmp_path / "rows.csv"
    src.filter(pl.col("id").is_in(["foundry-001", "nemo2407-005"])).write_csv(small)
    r = runner.invoke(app, ["validate", str(small), "--json"])
    assert r.exit_code == 0, r.output
    d = orjson.loads(r.output)
    assert d["rows"] == 2 and d["supported"] == 2 and d["by"]["overall"][0]["n"] == 2


def test_validate_cli_missing_file(tmp_path: Path) -> None:
    r = runner.invoke(app, ["validate", str(tmp_path / "nope.csv")])
    assert r.exit_code != 0


@pytest.mark.slow
def test_plan_cli_prints_breakdown_or_infeasible() -> None:
    args = ["plan", "llama3.1-405b", "--cluster", "dgx-h100", "--gpus", "16384", "--tp", "8", "--pp", "16",
            "--cp", "1", "--mbs", "1", "--gbs", "2048", "--seq", "8192"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "tokens/s/GPU" in r.output and "pipeline bubble" in r.output and "activations" in r.output
    r = runner.invoke(app, [*args, "--recompute", "none"])
    assert r.exit_code == 0 and "infeasible" in r.output and "GiB per GPU" in r.output
