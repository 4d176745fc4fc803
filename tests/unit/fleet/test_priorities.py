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


def test_cli_priorities_json_and_refusals(tmp_path: Path) -> None:
    import orjson
    from typer.testing import CliRunner

    from trainperf.cli import app

    w = tmp_path / "w.toml"
    w.write_text('"gpt2-124m" = 100\n')
    r = CliRunner().invoke(app, ["fleet", "gpt2-124m", "--flavor", "tiny", "--priorities", "--weights", str(w),
                                 "--json"])
    assert r.exit_code == 0, r.output
    d = orjson.loads(r.output[r.output.index("{"):])
    assert d["priorities"] and d["priorities"][0]["fleet_share"] >= d["priorities"][-1]["fleet_share"]
    assert {f["fix"] for f in d["fixes"]} >= {"compile", "cuda-graphs", "all"}
    for args, msg in [(["--weights", str(w)], "--priorities"), (["--cluster", "dgx-h100"], "go together"),
                      (["--cluster", "dgx-h100", "--gpus", "8", "--priorities"], "single-GPU fleet")]:
        r = CliRunner().invoke(app, ["fleet", "gpt2-124m", *args])
        assert isinstance(r.exception, ValueError) and msg in str(r.exception), args


def test_cli_cluster_fleet_json() -> None:
    import orjson
    from typer.testing import CliRunner

    from trainperf.cli import app

    r = CliRunner().invoke(app, ["fleet", "llama3.2-1b", "--cluster", "dgx-h100", "--gpus", "16", "--seq", "2048",
                                 "--json"])
    assert r.exit_code == 0, r.output
    rows = orjson.loads(r.output[r.output.index("["):])
    assert rows[0]["workload"] == "llama3.2-1b" and rows[0]["status"] == "ok" and "tp=" in rows[0]["layout"]


def test_pad_dims_prices_the_unaligned_head_aligned() -> None:
    import torch

    from trainperf.capture import capture_module
    from trainperf.fleet.priorities import fix_rows, padded
    from trainperf.hardware import get_gpu

    def head(n: int) -> object:
        return capture_module(lambda: torch.nn.Linear(768, n), lambda: torch.randn(1024, 768),
                              lambda m, x: m(x).float().pow(2).mean(), batch=1024)

    gpu = get_gpu("H100-SXM")
    rows = {r["fix"]: r for r in fix_rows("head", head(50257), gpu, ExecConfig())}
    assert rows["pad-dims"]["recoverable_s"] > 0 and rows["all"]["fixed_step_s"] <= rows["pad-dims"]["fixed_step_s"]
    assert padded(head(50304)) is None  # already a multiple of 64: the fix does not apply
    assert "pad-dims" not in {r["fix"] for r in fix_rows("head", head(50304), gpu, ExecConfig())}


def test_fused_attention_fix_reprices_the_rewritten_graph() -> None:
    from trainperf.capture.api import capture_workload
    from trainperf.fleet.priorities import fix_rows
    from trainperf.hardware import get_gpu
    from trainperf.model import predict_step
    from trainperf.model.production import fuse_attention

    g = capture_workload("gpt-oss-20b", "tiny")
    rows = {r["fix"]: r for r in fix_rows("gpt-oss-20b", g, get_gpu("H100-SXM"), ExecConfig())}
    expect = predict_step(fuse_attention(g, causal=True)[0], "H100-SXM", ExecConfig()).step_time_s
    assert rows["fused-attention"]["fixed_step_s"] == pytest.approx(expect)
    assert rows["fused-attention"]["recoverable_s"] > 0
