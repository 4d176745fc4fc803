"""The fit of the distributed model's shared parameters (parallel/params.py) on the fit split of the
published runs: coordinate descent over a grid, one parameter at a time, ``passes`` sweeps.

Only the fit split (validate.FIT_SOURCES) is scored; the held-out sources are reported apart by the
caller (benchmarks/bench_validate.py --fit) and never enter the objective.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import polars as pl

from trainperf.parallel.params import StepModelParams
from trainperf.validation.validate import validate_rows

GRID: dict[str, list[float]] = {
    "compute_scale": [1.0, 1.04, 1.08, 1.12, 1.16, 1.2, 1.25, 1.3],
    "overlap_interference": [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0],
    "exposed_a2a_fraction": [0.25, 0.5, 0.75, 1.0],
    "exposed_tp_fraction": [0.2, 0.4, 0.6, 0.8],
    "layer_overhead_s": [0.0, 50e-6, 100e-6, 200e-6],
    "moe_layer_overhead_s": [0.0, 0.25e-3, 0.5e-3, 1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3],
    "moe_expert_overhead_s": [0.0, 50e-6, 100e-6, 150e-6, 200e-6, 250e-6, 300e-6],
}
"""Values tried for each shared parameter."""

TARGET_GROUPS = (("gpu", "A100"), ("gpu", "H100"), ("gpu", "B200"), ("gpu", "GB200"), ("arch", "dense"),
                 ("arch", "moe"))


def score(res: pl.DataFrame) -> float:
    """Median plus 0.5 x p90 of |error| over the fit split."""
    e = res.filter((pl.col("split") == "fit") & pl.col("rel_error").is_not_null())["rel_error"].abs().to_numpy()
    return float(np.median(e) + 0.5 * np.quantile(e, 0.9))


def score_balanced(res: pl.DataFrame) -> float:
    """Mean over the target groups of the fit split of median / 10% + p90 / 25% (the validation targets
    as units), so no GPU or architecture group is traded for another."""
    fit = res.filter((pl.col("split") == "fit") & pl.col("rel_error").is_not_null())
    out = []
    for col, val in TARGET_GROUPS:
        e = fit.filter(pl.col(col) == val)["rel_error"].abs().to_numpy()
        if len(e):
            out.append(np.median(e) / 0.10 + np.quantile(e, 0.9) / 0.25)
    return float(np.mean(out))


def fit(rows: list[dict[str, object]], base: StepModelParams, passes: int = 2,
        objective: Callable[[pl.DataFrame], float] = score,
        report: Callable[[str], None] | None = None) -> StepModelParams:
    """The parameters that minimize ``objective``, starting from ``base``; ``report`` gets one line per
    parameter per pass."""
    best, best_s = base, objective(validate_rows(rows, base))
    for _ in range(passes):
        for name, values in GRID.items():
            for v in values:
                cand = dataclasses.replace(best, **{name: v})
                s = objective(validate_rows(rows, cand))
                if s < best_s - 1e-6:
                    best, best_s = cand, s
            if report is not None:
                report(f"  {name} = {getattr(best, name)!r}  (score {best_s:.4f})")
    return best
