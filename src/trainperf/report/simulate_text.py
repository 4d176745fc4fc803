"""Render a simulation: the step, per rank compute / exposed communication / idle, and the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer

from trainperf.parallel.estimate import Infeasible, PlanEstimate
from trainperf.simulate.api import SimResult


def simulation_json(res: SimResult, plan: PlanEstimate | Infeasible, *, files: list[Path],
                    elapsed_s: float) -> dict[str, Any]:
    g = res.timeline.graph
    return {
        "model": g.model, "layout": g.layout, "cluster": g.cluster, "gpu": g.gpu, "world_size": g.world_size,
        "step_time_s": res.step_time_s, "step_times_s": list(res.step_times_s),
        "plan_step_time_s": plan.step_time_s if isinstance(plan, PlanEstimate) else None,
        "tasks": len(g.tasks),
        "ranks": [{"rank": s.rank, "stage": s.stage, "window_s": s.window_s, "compute_s": s.compute_s,
                   "communication_s": s.communication_s, "idle_s": s.idle_s, "exposed_comm_s": s.exposed_comm_s}
                  for s in res.stages],
        "files": [str(f) for f in files], "elapsed_s": elapsed_s,
    }


def render_simulation(res: SimResult, plan: PlanEstimate | Infeasible, *, files: list[Path], elapsed_s: float,
                      json_out: bool) -> None:
    d = simulation_json(res, plan, files=files, elapsed_s=elapsed_s)
    if json_out:
        typer.echo(orjson.dumps(d, option=orjson.OPT_INDENT_2).decode())
        return
    ms = 1e3
    typer.echo(f"{d['model']} {d['layout']} on {d['cluster']} ({d['gpu']}): {d['tasks']:,} tasks on "
               f"{len(res.stages)} representative rank(s) of {d['world_size']:,}, simulated in {elapsed_s:.2f} s")
    line = f"step time {res.step_time_s * ms:.2f} ms (last of {len(res.step_times_s)} step(s))"
    if d["plan_step_time_s"]:
        line += f"; trainperf plan {d['plan_step_time_s'] * ms:.2f} ms ({res.step_time_s / d['plan_step_time_s']:.3f}x)"
    typer.echo(line)
    typer.echo("\nper rank (ms per step; communication = collectives with no compute beside them, pipeline "
               "waits included)")
    axes = sorted({a for s in res.stages for a in s.exposed_comm_s})
    head = ["rank", "window", "compute", "comm", "idle", *[f"exposed {a}" for a in axes]]
    rows = [[str(s.rank), *(f"{v * ms:.2f}" for v in (s.window_s, s.compute_s, s.communication_s, s.idle_s)),
             *(f"{s.exposed_comm_s.get(a, 0.0) * ms:.2f}" for a in axes)] for s in res.stages]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    typer.echo("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        typer.echo("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    if files:
        typer.echo(f"\nwrote {len(files)} trace(s) to {files[0].parent}/ (open in ui.perfetto.dev, or "
                   f"`trainperf analyze {files[0].parent}`)")
