"""`trainperf analyze TRACE_OR_DIR [--gpu NAME] [--html FILE] [--json] [--compare OTHER]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("analyze")(analyze_cmd)


def analyze_cmd(
    trace: Annotated[Path, typer.Argument(help="PyTorch profiler trace (.json or .json.gz) or a folder of per-rank files")],
    gpu: Annotated[str | None, typer.Option("--gpu", help="GPU for speed of light (default: the trace's deviceProperties)")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML report here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    compare: Annotated[Path | None, typer.Option("--compare", help="a second trace: show what changed from TRACE to it")] = None,
    top: Annotated[int, typer.Option(min=1, help="rows in the top-kernel and speed-of-light tables")] = 10,
) -> None:
    """Where a real run's time went: temporal breakdown, kernel categories, launch statistics,
    communication overlap and bandwidth, speed of light per op, and a ranked list of what to fix."""
    from trainperf.report.progress import status

    if compare is not None:
        from trainperf.report.trace_text import render_comparison
        from trainperf.trace import compare_traces

        with status(f"comparing {trace.name} and {compare.name}"):
            cmp = compare_traces(trace, compare, top=top)
        render_comparison(cmp, json_out=json_out, top=top)
        return
    from trainperf.report.trace_text import render_analysis
    from trainperf.trace import analyze

    with status(f"analyzing {trace.name}"):
        res = analyze(trace, gpu=gpu, top=max(top, 20))
    if html is not None:
        from trainperf.report.trace_html import render_html

        html.write_text(render_html(res), encoding="utf-8")
    render_analysis(res, json_out=json_out, top=top)
    if html is not None and not json_out:
        typer.echo(f"wrote {html}")
