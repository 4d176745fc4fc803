"""Distributed-model predictions vs the published measurements (shared/data/published), with tolerance bands.

The bands pin the accuracy the model has today (docs/parallel.md gives the numbers), so a change that makes
it worse fails here. The issue's targets (median <= 10%, p90 <= 25% in every group) are met in every group; the
bands sit 1.5-3 points above today's values, all but the A100 median inside the targets themselves.
"""

from pathlib import Path

import polars as pl
import pytest

from trainperf.validation.validate import OUTPUT_COLUMNS, read_rows, validate_csv, write_output

pytestmark = pytest.mark.validation

# group -> (max median |error|, max p90 |error|): the measured values (docs/parallel.md) plus ~2 points of
# median / ~3 points of p90 for calibration drift of the single-GPU model
BANDS = {
    ("overall", "all"): (0.095, 0.21),   # measured 7.6% / 18.5%
    ("split", "fit"): (0.095, 0.205),    # 7.5% / 18.0%
    ("split", "holdout"): (0.10, 0.24),  # 8.1% / 21.3%
    ("gpu", "A100"): (0.115, 0.19),      # 9.5% / 15.9%
    ("gpu", "H100"): (0.095, 0.24),      # 7.8% / 21.1%
    ("gpu", "B200"): (0.08, 0.18),       # 5.8% / 15.1%
    ("gpu", "GB200"): (0.075, 0.23),     # 5.3% / 20.1%
    ("arch", "dense"): (0.10, 0.205),    # 8.1% / 17.8%
    ("arch", "moe"): (0.08, 0.235),      # 5.7% / 20.5%
}


@pytest.fixture(scope="module")
def validation(published_csv: Path) -> tuple[pl.DataFrame, object]:
    return validate_csv(published_csv)


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


def test_peak_memory_against_torchtitan(validation: tuple, published_csv: Path) -> None:
    """torchtitan's rows are the only published peak memory (README caveat 7): |error| median 14%, p90 21%
    (FSDP stages held across pipeline micro-batches, PyTorch cross-entropy's loss peak)."""
    res, _ = validation
    src = pl.read_csv(published_csv, infer_schema_length=0)
    meas = src.select("id", pl.col("notes").str.extract(r"peak_mem_gib=([\d.]+)").cast(pl.Float64).alias("meas"))
    d = res.join(meas, on="id").filter(pl.col("meas").is_not_null() & pl.col("predicted_mem_gib").is_not_null())
    err = ((d["predicted_mem_gib"] - d["meas"]) / d["meas"]).abs()
    assert d.height >= 15
    assert err.median() <= 0.17 and err.quantile(0.9) <= 0.25, d.select("id", "meas", "predicted_mem_gib")


def test_config_floor_is_the_minimax_of_repeated_configurations(validation: tuple, published_csv: Path) -> None:
    """Rows of one configuration measured 100 and 200 can at best both be off by 1/3 (c = 133.3)."""
    from trainperf.validation.validate import CONFIG_KEY, config_floor

    res, _ = validation
    rows = [{"id": i, **{c: "x" for c in CONFIG_KEY}} for i in ("a", "b", "c")]
    rows[2]["n_gpus"] = "y"
    toy = pl.DataFrame({"id": ["a", "b", "c"], "measured_tokens_per_s_per_gpu": [100.0, 200.0, 50.0],
                        "rel_error": [0.1, 0.1, 0.1], "gpu": ["H100"] * 3, "arch": ["moe"] * 3})
    floor = config_floor(toy, rows).filter(pl.col("group") == "all").row(0, named=True)
    assert floor["n"] == 3
    assert floor["p90_abs_err"] == pytest.approx(1 / 3, rel=1e-9)  # a lone configuration is hit exactly
    assert floor["median_abs_err"] == pytest.approx(1 / 3, rel=1e-9)
    src = read_rows(published_csv)
    real = config_floor(res, src)
    moe = real.filter(pl.col("group") == "moe").row(0, named=True)
    assert 0.15 < moe["p90_abs_err"] < 0.30  # the release spread of repeated MoE configurations
