"""`trainperf optimize` on the CPU: every ranked candidate was measured, a diverging one fails, JSON shape."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.optimize.device import OptimizeConfig, Status, optimize_device
from trainperf.optimize.knobs import Compile, Knobs, Precision
from trainperf.optimize.measure import MeasureConfig

# Compiled candidates cost ~40 s each on this machine; a budget below the compile prior keeps them skipped.
CFG = OptimizeConfig(flavor="tiny", device="cpu", budget_s=20.0, compile_prior_s=600.0,
                     measure=MeasureConfig(steps=2, warmup=1))


def _poison_bf16(k: Knobs, built):  # type: ignore[no-untyped-def]
    """Scale the loss of bf16 candidates 10x: the guard must fail them, not rank them."""
    if k.precision is not Precision.BF16:
        return built
    return dataclasses.replace(built, loss=lambda m, b: built.loss(m, b) * 10.0)


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return optimize_device("gpt2-124m", CFG, wrap_built=_poison_bf16)


def test_every_ranked_candidate_was_measured_and_guarded(result) -> None:  # type: ignore[no-untyped-def]
    ranked = result.ranked()
    assert ranked and ranked[0].measured_speedup == max(c.measured_speedup for c in ranked)
    for c in ranked:
        assert c.status is Status.OK and c.measured_step_s and c.measured_step_s > 0 and c.losses
    assert result.baseline.measured_speedup == pytest.approx(1.0)
    assert result.best in ranked


def test_a_diverging_candidate_fails_and_is_not_ranked(result) -> None:  # type: ignore[no-untyped-def]
    bf16 = [c for c in result.candidates if c.knobs.precision is Precision.BF16 and c.status is not Status.SKIPPED]
    assert bf16, "the space should measure at least one bf16 candidate on the CPU"
    assert all(c.status is Status.FAILED and "loss" in c.reason for c in bf16)
    assert not any(c.knobs.precision is Precision.BF16 for c in result.ranked())


def test_compiled_candidates_over_budget_are_skipped_with_a_reason(result) -> None:  # type: ignore[no-untyped-def]
    compiled = [c for c in result.candidates if c.knobs.compile is not Compile.NONE]
    assert compiled and all(c.status is Status.SKIPPED and c.reason for c in compiled)
    assert any("budget" in c.reason for c in compiled if not c.knobs.cuda_graphs)  # CUDA graphs: not on a CPU


def test_json_has_the_fixed_fields() -> None:
    r = CliRunner().invoke(app, ["optimize", "gpt2-124m", "--budget-s", "8", "--steps", "1", "--warmup", "0",
                                 "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout[r.stdout.index("{"):])
    assert {"device", "baseline", "candidates", "best"} <= set(d)
    for cand in (d["baseline"], d["best"], *d["candidates"]):
        assert {"knobs", "measured_step_s", "predicted_speedup", "measured_speedup", "status", "reason"} <= set(cand)
        assert cand["status"] in ("ok", "failed", "skipped")
