"""`trainperf hw list` and `trainperf hw show NAME`: the GPU catalog and one GPU's cited numbers."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    hw = typer.Typer(help="GPU catalog: datasheet numbers with their sources (`hw list`, `hw show H100-SXM`).",
                     no_args_is_help=True)
    hw.command("list")(list_cmd)
    hw.command("show")(show_cmd)
    app.add_typer(hw, name="hw")


def list_cmd(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List the catalog GPUs with their dense peaks, memory and links."""
    from trainperf.hardware import list_gpus
    from trainperf.report.predict_text import render_hw_list

    render_hw_list(list_gpus(), json_out=json_out)


def show_cmd(
    name: Annotated[str, typer.Argument(help="catalog name, alias, device string, or path/to/my_gpu.toml")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show every number of one GPU with its source, and measured achievable rates if any."""
    from trainperf.hardware import get_gpu, measured_anchors
    from trainperf.report.predict_text import render_hw_show

    g = get_gpu(name)
    render_hw_show(g, measured_anchors(g.name), json_out=json_out)
