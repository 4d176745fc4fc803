"""The shared-parameter fit (validation/fit.py) scores the fit split only and never returns worse than it started."""

import dataclasses

import pytest

from trainperf.parallel.params import DEFAULT_PARAMS
from trainperf.validation import fit as F
from trainperf.validation.validate import read_rows, validate_rows


def test_fit_improves_or_keeps_the_score_on_a_small_grid(published_csv, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [r for r in read_rows(published_csv) if str(r["id"]).startswith(("foundry-00", "torchtitan-00"))]
    monkeypatch.setattr(F, "GRID", {"compute_scale": [1.0, 1.08, 1.2]})
    start = dataclasses.replace(DEFAULT_PARAMS, compute_scale=1.2)
    lines: list[str] = []
    best = F.fit(rows, start, passes=1, objective=F.score, report=lines.append)
    assert best.compute_scale in (1.0, 1.08, 1.2) and len(lines) == 1
    assert F.score(validate_rows(rows, best)) <= F.score(validate_rows(rows, start)) + 1e-9
    # held-out rows (torchtitan) are in the rows but not in the objective
    res = validate_rows(rows, best)
    assert set(res["split"].to_list()) == {"fit", "holdout"}
