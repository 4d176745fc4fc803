"""The data trainperf's users and tests need is in the repository and the package, not beside it."""

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.data import PUBLISHED_CSV

REPO = Path(__file__).resolve().parents[2]


def test_published_csv_is_package_data_with_its_readme() -> None:
    assert PUBLISHED_CSV.is_relative_to(REPO / "src" / "trainperf")
    rows = pl.read_csv(PUBLISHED_CSV, infer_schema_length=0)
    assert rows.height == 507 and {"id", "gpu_type", "measured_tokens_per_s_per_gpu"} <= set(rows.columns)
    assert (PUBLISHED_CSV.parent / "README.md").read_text().startswith("# Published")


def test_real_traces_are_in_the_repository(real_traces: Path) -> None:
    assert real_traces.is_relative_to(REPO)
    readme = (real_traces / "README.md").read_text()
    for folder in ("tracelens_h100", "tracelens_mi300", "param_2080ti", "ns_resolution_trace", "param_dlrm_8rank"):
        assert folder in readme and any((real_traces / folder).iterdir()), folder
    assert "MIT License" in readme  # each source's license travels with the copies


def test_validate_with_no_file_reads_the_packaged_csv_and_refuses_to_overwrite_input(tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    r = CliRunner().invoke(app, ["validate", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert pl.read_csv(out).height == 507
    src = tmp_path / "in.csv"
    src.write_bytes(PUBLISHED_CSV.read_bytes())
    r = CliRunner().invoke(app, ["validate", str(src), "-o", str(src)])
    assert r.exit_code != 0 and "also an input" in str(r.exception)
    assert src.read_bytes() == PUBLISHED_CSV.read_bytes()
