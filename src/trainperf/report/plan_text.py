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


def _suggestion_json(sug: Any) -> dict[str, Any] | None:
    if sug is None:
        return None
    return {"plan": sug.estimate.plan.describe(), "changed": sug.changed,
            "gain": None if sug.gain == float("inf") else sug.gain,
            "tokens_per_s_per_gpu": sug.estimate.tokens_per_s_per_gpu, "step_time_s": sug.estimate.step_time_s}


def _suggestion_line(sug: Any) -> str:
    e = sug.estimate
    if sug.gain == float("inf"):
        return (f"[bold]fits instead[/]: {sug.changed} ({e.plan.describe()}): {e.tokens_per_s_per_gpu:,.0f} "
                f"tokens/s/GPU, {e.memory.total / 2**30:.1f} GiB; `--search` finds the fastest layout that fits")
    return (f"[bold yellow]a neighbouring layout is {pct(sug.gain)} faster[/]: {sug.changed} "
            f"({e.tokens_per_s_per_gpu:,.0f} tokens/s/GPU, bubble {pct(e.bubble_s / e.step_time_s)}); "
            "`--search` explores every layout")


def render_plan(est: Any, *, json_out: bool = False, suggestion: Any = None) -> None:
    """A PlanEstimate or Infeasible; ``suggestion`` (optimize.search.Suggestion): a faster or fitting
    neighbouring layout, printed after the breakdown."""
    from rich.console import Console
    from rich.table import Table

    from trainperf.parallel.estimate import Infeasible

    if json_out:
        import orjson

        print(orjson.dumps({**plan_json(est), "suggestion": _suggestion_json(suggestion)},
                           option=orjson.OPT_INDENT_2).decode())
        return
    con = Console()
    if isinstance(est, Infeasible):
        con.print(f"[bold red]infeasible[/]: {est.reason}")
        if suggestion is not None:
            con.print(_suggestion_line(suggestion))
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
    if suggestion is not None:
        con.print(_suggestion_line(suggestion))


def comm_by_axis(est: Any) -> dict[str, float]:
    """Exposed communication per step by parallel axis (the suffix of the 'collective@axis' keys)."""
    out: dict[str, float] = {}
    for k, v in est.exposed_comm_s.items():
        axis = k.rsplit("@", 1)[-1].removesuffix("-step")
        out[axis] = out.get(axis, 0.0) + v
    return out


def _layout(p: Any) -> str:
    s = f"tp{p.tp} pp{p.pp}" + (f" vp{p.vp}" if p.vp > 1 else "") + f" cp{p.cp}"
    if p.ep > 1:
        s += f" ep{p.ep}" + (f" etp{p.etp_eff}" if p.etp_eff != p.tp else "")
    s += f" dp{p.dp} mbs{p.mbs} {p.sharding.value} recompute={p.recompute.value} {p.precision}"
    return s + (" tp-overlap" if p.tp_comm_overlap and p.tp > 1 else "")


def render_search(res: Any, *, json_out: bool = False, tokens: float | None = None) -> None:
    """Top layouts of a search (optimize.search.SearchResult): what separates them (bubble, exposed
    communication by axis, memory headroom) and, with ``tokens``, the time to train and GPU-hours."""
    from trainperf.optimize.search import search_json

    if json_out:
        import orjson

        print(orjson.dumps(search_json(res), option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    from trainperf.parallel.memory import usable_bytes

    con = Console()
    sp = res.space
    con.print(f"[bold]{res.arch}[/] on {sp.gpus:,} x {res.gpu} ({res.cluster}), gbs {sp.gbs:,} x seq {sp.seq:,}: "
              f"{res.evaluated:,} layouts through the memory model in {res.elapsed_s:.2f} s, {res.feasible:,} fit, "
              f"{res.priced:,} priced in full (the rest bounded out)", highlight=False)
    if res.infeasible:
        con.print("not run: " + ", ".join(f"{k} {v:,}" for k, v in res.infeasible.items()))
    if res.best is None:
        con.print("[bold red]no layout fits[/]: raise --gpus, lower --gbs or --seq, or use a GPU with more memory")
        return
    best = res.best
    t = Table(title="fastest layouts: bubble and exposed comm by axis in % of the step; memory peak / "
                    "headroom to usable HBM", title_justify="left")
    for c in ("#", "tok/s/GPU", "vs #1", "MFU", "bubble", "exposed comm %", "GiB / free"):
        t.add_column(c, justify="left" if c == "exposed comm %" else "right", no_wrap=True)
    lines = []
    for i, e in enumerate(res.top, 1):
        by = comm_by_axis(e)
        head = usable_bytes(res.hbm_GB) - e.memory.total
        comm = " ".join(f"{a}{100 * v / e.step_time_s:.1f}" for a, v in sorted(by.items(), key=lambda kv: -kv[1])
                        if v / e.step_time_s >= 5e-4) or "-"
        t.add_row(f"#{i}", f"{e.tokens_per_s_per_gpu:,.1f}",
                  "" if i == 1 else f"-{pct(1 - e.tokens_per_s_per_gpu / best.tokens_per_s_per_gpu)}",
                  pct(e.mfu), pct(e.bubble_s / e.step_time_s), comm,
                  f"{e.memory.total / 2**30:.0f} / {head / 2**30:.0f}")
        lines.append(f"#{i} {_layout(e.plan)}  step {seconds(e.step_time_s)}")
    con.print(t)
    for line in lines:
        con.print(line, highlight=False)
    if tokens:
        con.print(f"time to train {tokens:.3g} tokens on {sp.gpus:,} GPUs: "
                  + "; ".join(f"#{i} {_train_time(tokens, e, sp.gpus)}" for i, e in enumerate(res.top, 1)),
                  highlight=False)
    con.print("[dim]bubble and comm as shares of the step; MFU of the dense peak of the layout's precision, "
              "non-causal attention FLOPs[/]")


def _train_time(tokens: float, est: Any, gpus: int) -> str:
    s = tokens / (est.tokens_per_s_per_gpu * gpus)
    gpu_h = tokens / est.tokens_per_s_per_gpu / 3600
    return f"{s / 86400:,.1f} days ({gpu_h / 1e6:,.2f} M GPU-hours)"


def render_validation(summary: Any, out: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"rows {summary.rows}, supported {summary.supported} ({pct(summary.supported_share)})"
              + (f"; predictions written to {out}" if out else ""))
    if getattr(summary, "memory_misses", 0):
        con.print(f"memory model misses: {summary.memory_misses} measured run(s) it calls infeasible, priced anyway "
                  "(memory_fits false in the output)")
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
