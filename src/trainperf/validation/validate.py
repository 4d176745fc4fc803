"""Validate the distributed model against published measurements (the `trainperf validate` library side).

``validate_csv(path)`` predicts every row of a CSV with the columns of
shared/data/published/published_training_perf.csv and returns one row per input with the fixed output
columns (id, predicted_tokens_per_s_per_gpu, predicted_step_time_s, predicted_mfu, predicted_mem_gib,
status, reason, memory_fits, measured_tokens_per_s_per_gpu, rel_error) plus the groups of the error
statistics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from trainperf.parallel.estimate import Infeasible, PlanEstimate, evaluate
from trainperf.parallel.memory import recompute_candidates
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.validation.published import RowSetup, Unsupported, measured_tokens, row_setup, source_family

OUTPUT_COLUMNS = ["id", "predicted_tokens_per_s_per_gpu", "predicted_step_time_s", "predicted_mfu",
                  "predicted_mem_gib", "status", "reason", "memory_fits", "measured_tokens_per_s_per_gpu",
                  "rel_error"]
"""The -o CSV: the predictions, then what they were checked against (measured tokens/s/GPU as the source's
FLOP convention gives it, and predicted / measured - 1)."""
FIT_SOURCES = ("foundry", "mbridge", "nemo2407")
"""Source families the shared parameters were fitted on; every other family is held out."""


def gpu_group(gpu_type: str) -> str:
    g = gpu_type.upper()
    for key in ("GB300", "GB200", "B300", "B200", "H200", "H100", "A100", "V100", "MI3"):
        if key in g:
            return key
    return "other"


ENGINES = ("plan", "sim")
"""plan: the analytic step (parallel.evaluate); sim: the discrete-event simulation of the same layout
(trainperf.simulate), one step: ~100x slower, see benchmarks/results/simulate.txt for how they compare."""


def predict_row(row: dict[str, Any], params: StepModelParams = DEFAULT_PARAMS, engine: str = "plan") -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "predicted_tokens_per_s_per_gpu": None, "predicted_step_time_s": None,
                           "predicted_mfu": None, "predicted_mem_gib": None, "memory_fits": None}
    try:
        setup = row_setup(row)
    except Unsupported as e:
        return {**out, "status": "unsupported", "reason": str(e), "_arch": None}
    except (ValueError, KeyError) as e:
        return {**out, "status": "unsupported", "reason": f"layout: {e}", "_arch": None}
    est = _first_feasible(setup, params)
    memory_fits = True
    if isinstance(est, Infeasible) and est.memory is not None:
        # the run was measured, so it fit: price it anyway and flag the memory model (issue 10)
        priced = evaluate(setup.arch, setup.plan, setup.cluster, params, check_memory=False)
        if isinstance(priced, PlanEstimate):
            setup.notes.append(f"memory model miss: {est.reason.split(';')[0]}")
            est, memory_fits = priced, False
    if isinstance(est, Infeasible):
        mem = est.memory.total / 2**30 if est.memory else None
        return {**out, "predicted_mem_gib": mem, "status": "infeasible", "reason": est.reason, "_arch": setup.arch}
    if engine == "sim":
        from trainperf.simulate.api import simulate

        step = simulate(setup.arch, est.plan, setup.cluster, params, steps=1).step_time_s
        k = est.step_time_s / step
        est = dataclasses.replace(est, step_time_s=step, tokens_per_s_per_gpu=est.tokens_per_s_per_gpu * k,
                                  model_tflops_per_gpu=est.model_tflops_per_gpu * k, mfu=est.mfu * k)
    rc = est.plan.recompute.value + (f" on {est.plan.recompute_layers} layers/rank" if est.plan.recompute_layers else "")
    note = "; ".join(setup.notes + ([] if setup.recompute_given else [f"recompute={rc} (least that fits)"]))
    return {**out, "predicted_tokens_per_s_per_gpu": est.tokens_per_s_per_gpu, "predicted_step_time_s": est.step_time_s,
            "predicted_mfu": est.mfu, "predicted_mem_gib": est.memory.total / 2**30, "status": "ok", "reason": note,
            "memory_fits": memory_fits,
            "_arch": setup.arch}


def _first_feasible(setup: RowSetup, params: StepModelParams) -> PlanEstimate | Infeasible:
    """Evaluate the row's plan; where the row leaves recompute (or the whole layout) out, take the least
    recomputation (and the shallowest tp=8 pipeline) that fits, as a user would."""
    plans = [setup.plan]
    if not setup.layout_given:
        g = setup.plan.gpus
        plans += [dataclasses.replace(setup.plan, tp=8, pp=pp, gbs=setup.plan.gbs) for pp in range(1, 65)
                  if g % (8 * pp) == 0 and pp <= setup.arch.n_layers]
    cap = setup.cluster.gpu.hbm_capacity_GB
    first: PlanEstimate | Infeasible | None = None
    for plan in plans:
        try:
            cands = [plan] if setup.recompute_given else recompute_candidates(setup.arch, plan, cap)
        except ValueError:
            continue
        for p in cands:
            est = evaluate(setup.arch, p, setup.cluster, params)
            if isinstance(est, PlanEstimate):
                return est
            first = first or est
    return first or Infeasible("no valid layout")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such CSV")
    try:
        df = pl.read_csv(p, infer_schema_length=0)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{p}: not a CSV in the published_training_perf.csv format ({first})") from None
    missing = [c for c in ("id", "gpu_type", "n_gpus", "seq_len", "model_name") if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: missing columns {missing}; expected the columns of published_training_perf.csv")
    return df.to_dicts()


def validate_rows(rows: list[dict[str, Any]], params: StepModelParams = DEFAULT_PARAMS, *, engine: str = "plan",
                  progress: Callable[[int, int], None] | None = None) -> pl.DataFrame:
    """Predictions for every row with the fixed output columns, then measured/error/group columns.
    ``engine`` plan | sim (ENGINES); ``progress(done, total)`` is called after each row."""
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")
    recs = []
    for i, row in enumerate(rows):
        r = predict_row(row, params, engine)
        if progress is not None:
            progress(i + 1, len(rows))
        meas, how = measured_tokens(row, r.pop("_arch"))
        pred = r["predicted_tokens_per_s_per_gpu"]
        r.update(measured_tokens_per_s_per_gpu=meas, measured_how=how,
                 rel_error=(pred - meas) / meas if (pred is not None and meas) else None,
                 source=source_family(str(row["id"])), gpu=gpu_group(str(row["gpu_type"])),
                 arch="moe" if str(row.get("arch") or "").endswith("moe") else "dense",
                 split="fit" if source_family(str(row["id"])) in FIT_SOURCES else "holdout")
        recs.append(r)
    schema: dict[str, Any] = {c: pl.Utf8 for c in ("id", "status", "reason", "measured_how", "source", "gpu", "arch", "split")}
    schema.update({c: pl.Float64 for c in ("predicted_tokens_per_s_per_gpu", "predicted_step_time_s", "predicted_mfu",
                                           "predicted_mem_gib", "measured_tokens_per_s_per_gpu", "rel_error")})
    schema["memory_fits"] = pl.Boolean
    return pl.DataFrame(recs, schema=schema)


@dataclass(frozen=True)
class Summary:
    rows: int
    supported: int
    by: dict[str, pl.DataFrame]
    memory_misses: int = 0
    """Measured runs the memory model calls infeasible (priced anyway, memory_fits false)."""

    @property
    def supported_share(self) -> float:
        return self.supported / self.rows if self.rows else 0.0


def _stats(df: pl.DataFrame, key: str | None) -> pl.DataFrame:
    d = df.filter(pl.col("rel_error").is_not_null()).with_columns(pl.col("rel_error").abs().alias("abs_err"))
    aggs = [pl.len().alias("n"), pl.col("abs_err").median().alias("median_abs_err"),
            pl.col("abs_err").quantile(0.9, "linear").alias("p90_abs_err"),
            pl.col("rel_error").median().alias("median_signed_err")]
    if key is None:
        return d.select(pl.lit("all").alias("group"), *aggs)
    return d.group_by(key).agg(*aggs).rename({key: "group"}).sort("group")


def summarize(result: pl.DataFrame, rows: list[dict[str, Any]] | None = None) -> Summary:
    """Error statistics by group; with the input ``rows``, also the columns-only floor (by["floor"])."""
    ok = result.filter(pl.col("status") != "unsupported")
    by = {"overall": _stats(result, None), "split": _stats(result, "split"), "source": _stats(result, "source"),
          "gpu": _stats(result, "gpu"), "arch": _stats(result, "arch")}
    if rows is not None:
        by["floor"] = config_floor(result, rows)
    misses = result.filter(pl.col("memory_fits").eq(False)).height if "memory_fits" in result.columns else 0
    return Summary(rows=result.height, supported=ok.height, by=by, memory_misses=misses)


def validate_csv(path: str | Path, params: StepModelParams = DEFAULT_PARAMS, *, engine: str = "plan",
                 progress: Callable[[int, int], None] | None = None) -> tuple[pl.DataFrame, Summary]:
    """Predict every row of a published-format CSV; the output table and its error summary."""
    rows = read_rows(path)
    res = validate_rows(rows, params, engine=engine, progress=progress)
    return res, summarize(res, rows)


def write_output(result: pl.DataFrame, out: str | Path) -> None:
    result.select(OUTPUT_COLUMNS).write_csv(out)


CONFIG_KEY = ("model_name", "gpu_type", "n_gpus", "tp", "pp", "cp", "ep", "vp", "micro_batch", "global_batch_seqs",
              "seq_len", "precision", "recompute")
"""The columns that make two published rows the same configuration (README caveat 6: rows repeated across
software releases)."""


def config_floor(result: pl.DataFrame, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The error floor of any model that sees only the CSV columns: it must give one prediction per
    configuration (CONFIG_KEY), so rows of one configuration measured apart (releases, runs) cannot all be
    hit. Per configuration the best such prediction in the minimax sense, c = 2ab / (a + b) for measured
    min a and max b (equal relative error on both ends), and each row's |c - m| / m. Returns the error
    statistics of that oracle by the same groups as summarize()."""
    key = pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in CONFIG_KEY], separator="|")
    cfg = pl.DataFrame([{c: r.get(c) for c in ("id", *CONFIG_KEY)} for r in rows],
                       schema={c: pl.Utf8 for c in ("id", *CONFIG_KEY)}).select("id", key.alias("config"))
    d = (result.filter(pl.col("rel_error").is_not_null()).join(cfg, on="id")
         .with_columns(lo=pl.col("measured_tokens_per_s_per_gpu").min().over("config"),
                       hi=pl.col("measured_tokens_per_s_per_gpu").max().over("config"))
         .with_columns(best=2 * pl.col("lo") * pl.col("hi") / (pl.col("lo") + pl.col("hi")))
         .with_columns(rel_error=(pl.col("best") - pl.col("measured_tokens_per_s_per_gpu"))
                       / pl.col("measured_tokens_per_s_per_gpu")))
    return pl.concat([_stats(d, None), *(_stats(d, k) for k in ("gpu", "arch"))])


def percentile_abs(result: pl.DataFrame, q: float) -> float:
    e = result["rel_error"].drop_nulls().abs().to_numpy()
    return float(np.quantile(e, q)) if len(e) else float("nan")
