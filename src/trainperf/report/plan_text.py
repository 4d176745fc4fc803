"""Terminal rendering of a parallel plan estimate (`trainperf plan`) and of a validation run."""

from __future__ import annotations

from typing import Any

from trainperf.report.units import gib, pct, seconds


def plan_json(est: Any) -> dict[str, Any]:
    """PlanEstimate or Infeasible as plain JSON-able data."""
    from trainperf.parallel.estimate import Infeasible

    if isinstance(est, Infeasible):
        return {"status": "infeasible", "reason": est.reason,
                "memory_bytes": est.memory.as_dict() if est.memory else None}
    return {"status": "ok", "arch": est.arch, "cluster": est.cluster, "gpu": est.gpu, "plan": est.plan.describe(),
            "step_time_s": est.step_time_s, "tokens_per_s_per_gpu": est.tokens_per_s_per_gpu,
            "model_tflops_per_gpu": est.model_tflops_per_gpu, "mfu": est.mfu, "peak_tflops": est.peak_tflops,
            "memory_bytes": est.memory.as_dict(), "compute_s": est.compute_s, "exposed_comm_s": est.exposed_comm_s,
            "bubble_s": est.bubble_s, "optimizer_s": est.optimizer_s, "overhead_s": est.overhead_s}


def render_plan(est: Any, *, json_out: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from trainperf.parallel.estimate import Infeasible

    if json_out:
        import orjson

        print(orjson.dumps(plan_json(est), option=orjson.OPT_INDENT_2).decode())
        return
    con = Console()
    if isinstance(est, Infeasible):
        con.print(f"[bold red]infeasible[/]: {est.reason}")
        return
    p = est.plan
    con.print(f"[bold]{est.arch}[/] on {p.gpus} x {est.gpu} ({est.cluster}): {p.describe()}")
    con.print(f"step time {seconds(est.step_time_s)}   tokens/s/GPU {est.tokens_per_s_per_gpu:,.0f}   "
              f"model TFLOP/s/GPU {est.model_tflops_per_gpu:.0f}   MFU {pct(est.mfu)} "
              f"(of {est.peak_tflops:.0f} TFLOP/s {p.precision} peak, "
              "non-causal attention FLOPs)")
    mem = Table(title="memory per GPU (busiest pipeline rank)", title_justify="left")
    mem.add_column("part")
    mem.add_column("size", justify="right")
    for k, v in est.memory.as_dict().items():
        mem.add_row(k, gib(v))
    con.print(mem)
    t = Table(title="time per step", title_justify="left")
    t.add_column("part")
    t.add_column("time", justify="right")
    t.add_column("share of step", justify="right")
    rows: list[tuple[str, float]] = [(f"compute: {k}", v) for k, v in sorted(est.compute_s.items(), key=lambda kv: -kv[1])]
    rows += [(f"exposed comm: {k}", v) for k, v in sorted(est.exposed_comm_s.items(), key=lambda kv: -kv[1])]
    rows += [("pipeline bubble", est.bubble_s), ("optimizer", est.optimizer_s), ("overheads", est.overhead_s)]
    for name, v in rows:
        if v > 0:
            t.add_row(name, seconds(v), pct(v / est.step_time_s))
    con.print(t)
    con.print("[dim]compute and comm inside the pipeline are per micro-batch sums over the step on the busiest "
              "rank; exposed comm inside micro-batches is already part of their time[/]")


def render_validation(summary: Any, out: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"rows {summary.rows}, supported {summary.supported} ({pct(summary.supported_share)})"
              + (f"; predictions written to {out}" if out else ""))
    titles = {"floor": "error floor of any model of these columns (one prediction per configuration the CSV "
                       "repeats across releases)"}
    for key in ("overall", "split", "gpu", "arch", "source", "floor"):
        if key not in summary.by:
            continue
        df = summary.by[key]
        t = Table(title=titles.get(key, f"|error| of tokens/s/GPU by {key}"), title_justify="left")
        for c in ("group", "rows", "median", "p90", "median signed"):
            t.add_column(c, justify="left" if c == "group" else "right")
        for r in df.iter_rows(named=True):
            t.add_row(str(r["group"]), str(r["n"]), pct(r["median_abs_err"]), pct(r["p90_abs_err"]),
                      pct(r["median_signed_err"]))
        con.print(t)
