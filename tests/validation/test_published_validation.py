"""Distributed-model predictions vs the published measurements (shared/data/published), with tolerance bands.

The bands pin the accuracy the model has today (docs/parallel.md gives the numbers), so a change that makes
it worse fails here. The issue's targets (median <= 10%, p90 <= 25% in every group) are tighter than some
bands: see the report in docs/parallel.md for the groups that do not meet them yet.
"""

from pathlib import Path

import polars as pl
import pytest

from trainperf.parallel.validate import OUTPUT_COLUMNS, validate_csv, write_output

pytestmark = pytest.mark.validation

# group -> (max median |error|, max p90 |error|)
BANDS = {
    ("overall", "all"): (0.12, 0.33),
    ("split", "fit"): (0.12, 0.31),
    ("split", "holdout"): (0.12, 0.42),
    ("gpu", "A100"): (0.12, 0.26),
    ("gpu", "H100"): (0.12, 0.34),
    ("gpu", "B200"): (0.12, 0.43),
    ("gpu", "GB200"): (0.12, 0.36),
    ("arch", "dense"): (0.12, 0.30),
    ("arch", "moe"): (0.18, 0.43),
}


@pytest.fixture(scope="module")
def validation(shared_dir: Path) -> tuple[pl.DataFrame, object]:
    return validate_csv(shared_dir / "data" / "published" / "published_training_perf.csv")


def test_supported_share(validation: tuple) -> None:
    res, summary = validation
    assert summary.rows == 507
    assert summary.supported_share >= 0.95, res.filter(pl.col("status") == "unsupported")["reason"].to_list()


@pytest.mark.parametrize(("key", "group"), list(BANDS))
def test_error_bands(validation: tuple, key: str, group: str) -> None:
    _, summary = validation
    row = summary.by[key].filter(pl.col("group") == group).row(0, named=True)
    med, p90 = BANDS[(key, group)]
    assert row["median_abs_err"] <= med, f"{key}={group}: median |error| {row['median_abs_err']:.3f} > {med}"
    assert row["p90_abs_err"] <= p90, f"{key}={group}: p90 |error| {row['p90_abs_err']:.3f} > {p90}"
    assert abs(row["median_signed_err"]) <= 0.12, f"{key}={group}: biased by {row['median_signed_err']:+.3f}"


def test_output_file_has_the_fixed_columns(validation: tuple, tmp_path: Path) -> None:
    res, _ = validation
    out = tmp_path / "out.csv"
    write_output(res, out)
    df = pl.read_csv(out)
    assert df.columns == OUTPUT_COLUMNS
    assert set(df["status"].unique()) <= {"ok", "infeasible", "unsupported"}
    assert df.height == 507
