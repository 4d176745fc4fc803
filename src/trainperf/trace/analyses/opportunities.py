"""Opportunities: what would recover the most step time, ranked, each with its evidence and the concrete
action. A pure function of the other analyses' tables (and the events, for data-loader spans): this
module finds the numbers (advice.Findings), advice.py words them and counts each part of the step once,
so the items never add up to more than the step. Recoverable times are per step, averaged over ranks, and
are upper bounds: each assumes the problem is removed completely and nothing else moves onto the critical
path. docs/analyses/opportunities.md.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.trace.analyses._intervals import gaps, union_len_lazy
from trainperf.trace.analyses.advice import ACHIEVABLE_SOL, MIN_FRAC, PART, Findings, opportunity_rows
from trainperf.trace.analyses.temporal import ALL_STEPS, windows
from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory

__all__ = ["ACHIEVABLE_SOL", "MIN_FRAC", "PART", "SCHEMA", "opportunities"]

SCHEMA = {"kind": pl.String, "title": pl.String, "recover_ns": pl.Float64, "recover_frac": pl.Float64,
          "alone_ns": pl.Float64, "part": pl.String, "overlaps": pl.String, "evidence": pl.String, "action": pl.String}


def _per_step(temporal: pl.DataFrame) -> pl.DataFrame:
    steps = temporal.filter(pl.col("step") != ALL_STEPS)
    return steps if steps.height else temporal


def _dataloader_idle(events: pl.DataFrame) -> pl.DataFrame:
    """Per rank: GPU idle time that overlaps a data-loader ``enumerate(DataLoader)#...__next__`` span."""
    dl = events.lazy().filter(pl.col("name").str.starts_with("enumerate(DataLoader)") & (pl.col("ph") == "X")).select(
        "rank", s="ts", e=pl.col("ts") + pl.col("dur")).collect(engine=ENGINE)
    if dl.height == 0:
        return pl.DataFrame(schema={"rank": pl.Int32, "dl_idle_ns": pl.Int64})
    g = events.lazy().filter("gpu").select("rank", s="ts", e=pl.col("ts") + pl.col("dur")).collect(engine=ENGINE)
    w = windows(events, by_step=False).select("rank", "w0", "w1")
    idle = gaps(g, w, ["rank"]).select("rank", s="g0", e="g1").lazy()
    a = union_len_lazy(dl.lazy(), ["rank"], "a")
    b = union_len_lazy(idle, ["rank"], "b")
    ab = union_len_lazy(pl.concat([dl.lazy(), idle]), ["rank"], "ab")
    return (a.join(b, on="rank").join(ab, on="rank").select("rank", dl_idle_ns=pl.col("a") + pl.col("b") - pl.col("ab"))
            .collect(engine=ENGINE))


def opportunities(events: pl.DataFrame, temporal: pl.DataFrame, launch: pl.DataFrame, overlap: pl.DataFrame,
                  collectives: pl.DataFrame, sol: pl.DataFrame, imbalance: pl.DataFrame,
                  gpu: Any | None = None) -> pl.DataFrame:
    """Ranked opportunities (advice.COLUMNS): kind, title, recover_ns (per step, counted once), recover_frac
    (of the step), alone_ns, part, overlaps, evidence, action."""
    t = _per_step(temporal)
    if t.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    has_steps = bool((t["step"] != ALL_STEPS).any())
    n_steps = max(1, t.select(pl.col("step")).n_unique()) if has_steps else 1
    m = t.select(pl.col("window", "compute", "communication", "copy", "idle_host", "idle_sync",
                        "idle_other").mean()).row(0, named=True)
    n_ranks = max(1, t["rank"].n_unique())
    dl = _dataloader_idle(events)
    ls = launch.select(pl.col("kernels_per_step", "short_share").mean()).row(0, named=True) if launch.height else {}
    kinds = [(r["kind"], int(r["count"]), r["busbw_GBps"]) for r in collectives.group_by("kind").agg(
        pl.col("count").sum(), pl.col("busbw_GBps").mean(), pl.col("time_ns").sum())
        .sort("time_ns", "kind", descending=[True, False]).iter_rows(named=True)]
    fp32_ns, fp32_cats = _fp32(sol, events, gpu)
    gap_ns, top = _far_from_sol(sol)
    straggler = None
    if imbalance.height > 1:
        ex = float(imbalance.select(pl.col("compute_ns").max() - pl.col("compute_ns").mean()).item())
        r = imbalance.sort(["compute_ns", "rank"], descending=[True, False]).row(0, named=True)
        straggler = (int(r["rank"]), float(r["compute_ns"]), ex)
    f = Findings(means={k: float(v or 0) for k, v in m.items()}, per="per step" if has_steps else "over the trace",
                 dataloader_ns=float(dl["dl_idle_ns"].sum() or 0) / n_ranks / n_steps,
                 kernels_per_step=ls.get("kernels_per_step"), short_share=ls.get("short_share"),
                 overlap=overlap.select(pl.col("overlap").mean()).item() if overlap.height else None,
                 collectives=tuple(kinds), fp32_ns=fp32_ns / n_steps / n_ranks, fp32_categories=fp32_cats,
                 sol_gap_ns=gap_ns / n_steps / n_ranks, sol_top=tuple(top), straggler=straggler)
    rows = opportunity_rows(f, gpu)
    return pl.DataFrame(rows, schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)


# cuBLAS/cuDNN name their single-precision (no tensor core) kernels with an "s" precision letter:
# volta_sgemm_128x64_nt, volta_scudnn_128x64_relu_... (NVIDIA kernel naming; see also HTA's kernel table).
_FP32_KERNELS = r"sgemm|scudnn"
_HEAVY = [OpCategory.MATMUL.value, OpCategory.CONV.value, OpCategory.ATTENTION.value]


def _fp32(sol: pl.DataFrame, events: pl.DataFrame, gpu: Any | None) -> tuple[float, tuple[str, ...]]:
    """Compute-bound fp32 matmul/conv/attention time (whole trace, all ranks) and its categories: from the
    ops' recorded dtypes when shapes were recorded, else from fp32 cuBLAS/cuDNN kernel names."""
    if gpu is None:
        return 0.0, ()
    if "bound_by" not in sol.columns or not sol["covered"].any():
        # (the GPU rows first: the name regex over every event would cost more than this whole analysis)
        g = events.lazy().filter("gpu").select("name", "category", "dur").collect(engine=ENGINE)
        k = g.filter(pl.col("name").str.contains(_FP32_KERNELS))
        sol = k.group_by("category").agg(time_ns=pl.col("dur").sum()).select(
            "time_ns", cost_category="category", covered=pl.lit(True), math_dtype=pl.lit("float32"),
            bound_by=pl.lit("compute"))
    f32 = sol.filter(pl.col("covered") & (pl.col("math_dtype") == "float32")
                     & pl.col("cost_category").is_in(_HEAVY) & (pl.col("bound_by") == "compute"))
    return float(f32["time_ns"].sum() or 0), tuple(sorted(set(f32["cost_category"].to_list())))


def _far_from_sol(sol: pl.DataFrame) -> tuple[float, list[tuple[str, int, float, str]]]:
    """Time above ACHIEVABLE_SOL of roofline (whole trace, all ranks) and the three ops furthest from it."""
    if "sol_ns" not in sol.columns:
        return 0.0, []
    s = sol.filter(pl.col("covered") & pl.col("bound_by").is_in(["compute", "memory"])).with_columns(
        gap=pl.col("time_ns") - pl.col("sol_ns") / ACHIEVABLE_SOL).filter(pl.col("gap") > 0)
    if s.height == 0:
        return 0.0, []
    top = s.sort(["gap", "rank", "op", "shapes"], descending=[True, False, False, False], nulls_last=True).head(3)
    return float(s["gap"].sum()), [(r["op"], int(r["calls"]), float(r["sol_frac"]), r["bound_by"])
                                   for r in top.iter_rows(named=True)]
