"""Fleet priorities: counterfactual pricing, weights, ranking, overlap said."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from trainperf.fleet import FIXES_SCHEMA, fleet_overlap, fleet_sweep, rank_fixes, read_weights
from trainperf.model import ExecConfig


@pytest.fixture(scope="module")
def fixes() -> pl.DataFrame:
    res = fleet_sweep(["gpt2-124m", "resnet50"], ["H100-SXM"], flavor="tiny", fixes=True)
    return res.fixes


def test_each_fix_is_a_repricing_of_the_same_step(fixes: pl.DataFrame) -> None:
    from trainperf.capture.api import capture_workload
    from trainperf.hardware import get_gpu
    from trainperf.model import predict_step

    g = capture_workload("gpt2-124m", "tiny")
    gpu = get_gpu("H100-SXM")
    row = fixes.filter((pl.col("workload") == "gpt2-124m") & (pl.col("fix") == "compile")).row(0, named=True)
    assert row["fixed_step_s"] == pytest.approx(predict_step(g, gpu, ExecConfig(compile=True)).step_time_s)
    assert row["recoverable_s"] == pytest.approx(row["step_s"] - row["fixed_step_s"])
    # channels-last applies to the conv net only; fp8 only where the GPU has it (H100 has)
    applied = fixes.group_by("workload").agg(pl.col("fix")).rows_by_key("workload")
    assert "channels-last" in applied["resnet50"][0][0] and "channels-last" not in applied["gpt2-124m"][0][0]
    assert all(0 <= s < 1 for s in fixes["recoverable_share"])


def test_ranking_and_weights(fixes: pl.DataFrame, tmp_path: Path) -> None:
    ranked = rank_fixes(fixes, top=10)
    assert ranked["fleet_share"].to_list() == sorted(ranked["fleet_share"].to_list(), reverse=True)
    equal = {r["fix"]: r["fleet_share"] for r in ranked.iter_rows(named=True)}
    single = fixes.filter(pl.col("fix") != "all")
    assert equal["compile"] == pytest.approx(single.filter(pl.col("fix") == "compile")["recoverable_share"].sum() / 2)
    only_cnn = rank_fixes(fixes, {"resnet50": 100.0}, top=10)  # all GPU-hours on the CNN
    assert only_cnn.filter(pl.col("fix") == "channels-last")["fleet_share"].item() == pytest.approx(
        single.filter(pl.col("fix") == "channels-last")["recoverable_share"].item())
    together, alone = fleet_overlap(fixes)
    assert 0 < together < 1 and alone > 0
    w = tmp_path / "w.toml"
    w.write_text('"gpt2-124m" = 10\nresnet50 = "many"\n')
    with pytest.raises(ValueError, match="resnet50"):
        read_weights(w)
    w.write_text('"gpt2-124m" = 10\n')
    assert read_weights(w) == {"gpt2-124m": 10.0}


def test_empty_fleet_ranks_nothing() -> None:
    assert rank_fixes(pl.DataFrame(schema=FIXES_SCHEMA)).height == 0
