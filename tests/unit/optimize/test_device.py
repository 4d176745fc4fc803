"""trainperf optimize on the local CPU: a tiny workload, a tight budget."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from trainperf.optimize.knobs import Compile, Context, Knobs, Precision, candidate_space


def test_cpu_space_skips_cuda_knobs_with_reasons() -> None:
    space = candidate_space(Context(device_type="cpu", batch=2, has_sdpa=True, has_blocks=True))
    skipped = {s.knobs.label(): s.reason for s in space.skipped}
    assert "tf32" in skipped and "CUDA" in skipped["tf32"]
    assert "fp8" in skipped and "compile+cuda-graphs" in skipped
    assert "channels-last" in skipped  # no convolutions
    assert not any(k.cuda_graphs or k.precision is Precision.TF32 for k in space.candidates)
    assert len(set(space.candidates)) == len(space.candidates) and Knobs() not in space.candidates


def test_cuda_graphs_need_compile() -> None:
    with pytest.raises(ValueError, match=r"needs torch\.compile"):
        Knobs(cuda_graphs=True)
    assert Knobs(compile=Compile.DEFAULT, cuda_graphs=True).compile_mode == "reduce-overhead"


def test_optimize_measures_what_it_ranks_and_fails_a_diverging_candidate() -> None:
    from trainperf.optimize.device import OptimizeConfig, Status, optimize_device
    from trainperf.optimize.measure import MeasureConfig

    bad = Knobs(precision=Precision.BF16)

    def scale_loss(k: Knobs, built):  # the injected fault: this candidate's loss is 1000x
        if k != bad:
            return built
        return dataclasses.replace(built, loss=lambda m, b: built.loss(m, b) * 1000.0)

    lines: list[str] = []
    # budget below the compile prior: compiled candidates are skipped for the budget, eager ones (about 3 s
    # in all on an idle core) run
    cfg = OptimizeConfig(budget_s=60.0, compile_prior_s=1e4, measure=MeasureConfig(warmup=1, steps=2))
    res = optimize_device("gpt2-124m", cfg,
                          progress=lines.append, wrap_built=scale_loss)
    by = {c.knobs: c for c in res.candidates}
    assert by[bad].status is Status.FAILED and "loss" in by[bad].reason
    ranked = res.ranked()
    assert bad not in [c.knobs for c in ranked] and len(ranked) >= 3
    for c in ranked:
        assert c.measured_step_s and c.measured_step_s > 0 and c.measured_speedup
    assert all(c.status is Status.SKIPPED for c in res.candidates if c.knobs.compile is not Compile.NONE)
    assert res.best.status is Status.OK and res.best.measured_speedup == max(c.measured_speedup for c in ranked)
    # one progress line per candidate it considered (run or pruned), after the baseline's
    considered = [c for c in res.candidates if c.status is not Status.SKIPPED or c.reason.startswith(("budget", "memory"))]
    assert len(lines) == 1 + len(considered)
    assert all(any(c.knobs.label() + ":" in ln for ln in lines) for c in considered)
    d = orjson.loads(orjson.dumps(res.to_dict()))
    assert {"device", "baseline", "candidates", "best"} <= set(d)
    for cand in (d["baseline"], d["best"], *d["candidates"]):
        assert {"knobs", "measured_step_s", "predicted_speedup", "measured_speedup", "status", "reason"} <= set(cand)
        assert cand["status"] in ("ok", "failed", "skipped") and cand["predicted_speedup"] is None  # CPU: no spec
    assert d["baseline"]["measured_speedup"] == 1.0
