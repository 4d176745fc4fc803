"""Accuracy benchmark of the distributed model on shared/data/published, and the fit of its shared parameters.

    python benchmarks/bench_validate.py            # error table with the packaged parameters
    python benchmarks/bench_validate.py --fit      # coordinate-descent fit on the fit split, then both splits
    python benchmarks/bench_validate.py --fit --overall   # the same with median + 0.5 x p90 over all fit rows

The fit uses only the fit split (validate.FIT_SOURCES); the held-out sources are reported separately.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from trainperf.data import PUBLISHED_CSV
from trainperf.parallel.params import DEFAULT_PARAMS
from trainperf.validation.fit import fit, score, score_balanced
from trainperf.validation.validate import read_rows, summarize, validate_rows

CSV = PUBLISHED_CSV  # the packaged copy of shared/data/published


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--overall", action="store_true",
                    help="fit median + 0.5 x p90 over all fit-split rows instead of the group-balanced objective")
    ap.add_argument("--csv", default=str(CSV))
    args = ap.parse_args()
    rows = read_rows(args.csv)
    objective = score if args.overall else score_balanced
    params = fit(rows, DEFAULT_PARAMS, objective=objective, report=print) if args.fit else DEFAULT_PARAMS
    t0 = time.perf_counter()
    res = validate_rows(rows, params)
    dt = time.perf_counter() - t0
    s = summarize(res, rows)
    print(f"rows {s.rows}, supported {s.supported} ({s.supported_share:.1%}), {dt:.2f} s")
    pl.Config.set_tbl_rows(50)
    for key in ("overall", "split", "gpu", "arch", "source"):
        print(s.by[key])
    print("error floor of any columns-only model (one prediction per configuration; rows repeated across "
          "releases differ):")
    print(s.by["floor"])
    if args.fit:
        print(params)


if __name__ == "__main__":
    main()
