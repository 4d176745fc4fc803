"""`trainperf optimize WORKLOAD`: single-device settings measured on this machine's CPU or GPU."""

from __future__ import annotations

from typing import Annotated

import typer

from trainperf.cli.results import DbOpt, check_db, store


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_cmd)


def optimize_cmd(
    workload: Annotated[str, typer.Argument(help="zoo workload name (see `trainperf zoo`)")],
    flavor: Annotated[str, typer.Option(help="tiny (default) or full")] = "tiny",
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
    budget_s: Annotated[float, typer.Option("--budget-s", help="wall-clock budget of the whole search, seconds; "
                                                               "candidates that would overrun it are skipped")] = 180.0,
    steps: Annotated[int, typer.Option(help="timed steps per candidate (median reported)")] = 5,
    warmup: Annotated[int, typer.Option(help="untimed steps after each candidate's first")] = 2,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    db: DbOpt = None,
) -> None:
    """Search precision, torch.compile, CUDA graphs, channels-last, optimizer implementation, micro-batch,
    activation checkpointing and SDPA backend for one workload: each candidate is measured here (median of
    --steps), guarded by its loss, and ranked by measured speedup over eager fp32, with the model's
    predicted speedup beside it. Progress goes to stderr, one line per candidate."""
    from trainperf.optimize.device import OptimizeConfig, optimize_device
    from trainperf.optimize.measure import MeasureConfig
    from trainperf.report.optimize_text import render_optimize

    cfg = OptimizeConfig(flavor=flavor, device=device, budget_s=budget_s,
                         measure=MeasureConfig(steps=steps, warmup=warmup))
    check_db(db)
    res = optimize_device(workload, cfg, progress=lambda line: typer.echo(line, err=True))
    if db is not None:
        from trainperf.study.store import optimize_rows

        store(db, "optimize", optimize_rows(res), hardware=res.device, args={
            "workload": workload, "flavor": flavor, "device": device, "budget_s": budget_s, "steps": steps,
            "warmup": warmup})
    render_optimize(res, json_out=json_out)
