"""Opportunities: what would recover the most step time, ranked, each with its evidence and the concrete
action. A pure function of the other analyses' tables (and the events, for data-loader spans): this
module finds the numbers (advice.Findings), advice.py words them and counts each part of the step once,
so the items never add up to more than the step. Recoverable times are per step, averaged over ranks, and
are upper bounds: each assumes the problem is removed completely and nothing else moves onto the critical
path. The compute items are priced by counterfactual (counterfactual.py, on the same rows both engines
build). docs/analyses/opportunities.md, docs/trace.md ("What to fix first").
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.trace.analyses import counterfactual
from trainperf.trace.analyses._intervals import gaps, union_len_lazy
from trainperf.trace.analyses.advice import ACHIEVABLE_SOL, MIN_FRAC, PART, Findings, opportunity_rows
from trainperf.trace.analyses.temporal import ALL_STEPS, windows
from trainperf.trace.engine import ENGINE
from trainperf.trace.schema import starts_with
from trainperf.vocab import OpCategory

__all__ = ["ACHIEVABLE_SOL", "MIN_FRAC", "PART", "SCHEMA", "opportunities"]

SCHEMA = {"kind": pl.String, "title": pl.String, "recover_ns": pl.Float64, "recover_frac": pl.Float64,
          "alone_ns": pl.Float64, "part": pl.String, "overlaps": pl.String, "evidence": pl.String, "action": pl.String}


def _per_step(temporal: pl.DataFrame) -> pl.DataFrame:
    steps = temporal.filter(pl.col("step") != ALL_STEPS)
    return steps if steps.height else temporal


def _dataloader_idle(events: pl.DataFrame) -> pl.DataFrame:
    """Per rank: GPU idle time that overlaps a data-loader ``enumerate(DataLoader)#...__next__`` span."""
    dl = events.lazy().filter(starts_with(events, "name", "enumerate(DataLoader)") & (pl.col("ph") == "X")).select(
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
    compute = counterfactual.compute(*_compute_inputs(sol, events, gpu), n_steps * n_ranks)
    straggler = None
    if imbalance.height > 1:
        ex = float(imbalance.select(pl.col("compute_ns").max() - pl.col("compute_ns").mean()).item())
        r = imbalance.sort(["compute_ns", "rank"], descending=[True, False]).row(0, named=True)
        straggler = (int(r["rank"]), float(r["compute_ns"]), ex)
    f = Findings(means={k: float(v or 0) for k, v in m.items()}, per="per step" if has_steps else "over the trace",
                 dataloader_ns=float(dl["dl_idle_ns"].sum() or 0) / n_ranks / n_steps,
                 kernels_per_step=ls.get("kernels_per_step"), short_share=ls.get("short_share"),
                 overlap=overlap.select(pl.col("overlap").mean()).item() if overlap.height else None,
                 collectives=tuple(kinds), compute=compute, straggler=straggler)
    rows = opportunity_rows(f, gpu)
    return pl.DataFrame(rows, schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)


# cuBLAS/cuDNN name their single-precision (no tensor core) kernels with an "s" precision letter:
# volta_sgemm_128x64_nt, volta_scudnn_128x64_relu_... (NVIDIA kernel naming; see also HTA's kernel table).
_FP32_KERNELS = r"sgemm|scudnn"
_ROW_COLUMNS = ["rank", "op", "shapes", "calls", "kernels", "time_ns", "cost_category", "flops", "bytes",
                "math_dtype", "covered", "sol_ns", "sol_frac", "bound_by"]


def _compute_inputs(sol: pl.DataFrame, events: pl.DataFrame, gpu: Any | None) -> tuple[
        list[dict[str, Any]], list[counterfactual.Inst], Any | None, dict[str, float]]:
    """counterfactual.compute's inputs: the speed-of-light rows, the op sequences of threads that ran a
    softmax, and fp32 kernel time by category from kernel names when no op was priced (whole trace)."""
    if gpu is None or "bound_by" not in sol.columns:
        return [], [], gpu, {}
    rows = sol.select(_ROW_COLUMNS).to_dicts()
    kernel_fp32: dict[str, float] = {}
    if not sol["covered"].any():
        # (the GPU rows first: the name regex over every event would cost more than this whole analysis)
        g = events.lazy().filter("gpu").select(pl.col("name", "category").cast(pl.String), "dur").collect(engine=ENGINE)
        k = g.filter(pl.col("name").str.contains(_FP32_KERNELS)).group_by("category").agg(pl.col("dur").sum())
        kernel_fp32 = {c: float(t) for c, t in k.iter_rows()}
    return rows, _op_sequence(events), gpu, kernel_fp32


def _op_sequence(events: pl.DataFrame) -> list[counterfactual.Inst]:
    """Ops that launched GPU work (communication aside, as sol.op_sol), with their kernels' time, on the
    (rank, thread)s that ran a softmax recorded with shapes (a span needs them): (rank, tid, ts, idx, op,
    shapes, ns), by rank, tid, ts, idx."""
    ev = events.lazy()
    names = [*counterfactual.SOFTMAX, *counterfactual.SOFTMAX_BWD]
    ops = ev.filter(pl.col("cat") == "cpu_op").select("rank", "tid", "ts", op_idx="idx", op="name", shapes="shapes")
    threads = ops.filter(pl.col("op").is_in(names) & pl.col("tid").is_not_null() & pl.col("shapes").is_not_null()
                         ).select("rank", "tid").unique()
    threads_df = threads.collect(engine=ENGINE)
    if threads_df.height == 0:
        return []
    k = ev.filter(pl.col("gpu") & pl.col("op_idx").is_not_null()
                  & (pl.col("category") != OpCategory.COMMUNICATION.value))
    per_op = k.group_by("rank", "op_idx").agg(ns=pl.col("dur").sum())
    seq = (per_op.join(ops, on=["rank", "op_idx"]).join(threads_df.lazy(), on=["rank", "tid"])
           .sort("rank", "tid", "ts", "op_idx").select("rank", "tid", "ts", "op_idx", "op", "shapes", "ns")
           .collect(engine=ENGINE))
    return list(seq.iter_rows())  # type: ignore[arg-type]
