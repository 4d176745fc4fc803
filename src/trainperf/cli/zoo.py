"""`trainperf zoo`: list the registered workloads."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("zoo")(zoo_cmd)


def zoo_cmd(
    pattern: Annotated[str | None, typer.Argument(help="glob (llama*) or substring or domain (moe, cnn) to filter by")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """List the workload zoo: name, domain, library, parameters, canonical size, model FLOPs, fake capture."""
    from trainperf.report.zoo import render_zoo, zoo_rows
    from trainperf.workloads import list_workloads

    rows = zoo_rows(list_workloads(pattern))
    if not rows:
        raise ValueError(f"no workload matches {pattern!r}; run `trainperf zoo` to see all")
    render_zoo(rows, json_out=json_out)
