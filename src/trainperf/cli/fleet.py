"""`trainperf fleet`: the whole zoo (or a filter of it) predicted on one or more GPUs, worst MFU first."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("fleet")(fleet_cmd)


def fleet_cmd(
    pattern: Annotated[str | None, typer.Argument(help="glob, substring or domain of zoo workloads (default: all)")] = None,
    gpu: Annotated[list[str] | None, typer.Option("--gpu", help="GPU name (repeatable; default H100-SXM)")] = None,
    flavor: Annotated[str, typer.Option(help="full or tiny")] = "full",
    precision: Annotated[str, typer.Option(help="bf16, fp16, fp32, tf32 or fp8")] = "bf16",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile: fused elementwise/norm chains")] = False,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="CUDA graphs: no per-kernel launch cost")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON rows")] = False,
) -> None:
    """Predict every selected zoo workload on every GPU and rank them by MFU, lowest first: which
    networks are furthest from the hardware, what dominates their step (category, its speed-of-light %,
    bound-by), whether they are host-bound and whether they fit."""
    from trainperf.fleet import sweep
    from trainperf.model import ExecConfig
    from trainperf.report.fleet_text import render_fleet
    from trainperf.report.progress import track
    from trainperf.workloads import list_workloads

    names = [w.name for w in list_workloads(pattern)]
    if not names:
        raise ValueError(f"no workload matches {pattern!r}; run `trainperf zoo` to see all")
    cfg = ExecConfig(precision=precision, compile=compile, cuda_graphs=cuda_graphs)
    df = sweep(track(names, "capturing and predicting", total=len(names)), gpu or ["H100-SXM"], cfg, flavor=flavor)
    render_fleet(df, json_out=json_out)
    failed = df.filter(df["status"] == "error").height
    if failed:  # the table is printed either way; scripts must still see that rows failed
        typer.echo(f"error: {failed} of {df.height} rows failed (status error; see their reason)", err=True)
        raise typer.Exit(1)
