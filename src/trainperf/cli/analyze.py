"""`trainperf analyze TRACE_OR_DIR [--gpu NAME] [--html FILE] [--json] [--compare OTHER]`.

(A small trace with no other option is answered by trainperf/trace/quick before this module, or typer,
is imported: see trainperf/__main__.py.)"""

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
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML report here (with --compare: the comparison)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    compare: Annotated[Path | None, typer.Option("--compare", help="a second trace: show what changed from TRACE to it")] = None,
    top: Annotated[int, typer.Option(min=1, help="rows in the top-kernel, speed-of-light and host-op tables")] = 10,
) -> None:
    """Where a real run's time went: temporal breakdown, kernel categories, launch statistics,
    communication overlap and bandwidth, speed of light per op, host time by op, and a ranked list of
    what to fix."""
    from trainperf.report.output import check_output, write_text_atomic
    from trainperf.report.progress import status

    if html is not None:  # before any work: never overwrite an input, a folder, or write under a file
        check_output(html, inputs=[p for p in (trace, compare) if p is not None], flag="--html")
    if compare is not None:
        if gpu is not None:
            raise ValueError("--gpu has no effect with --compare (a comparison has no speed of light); drop one")
        from trainperf.report.trace_text import render_comparison
        from trainperf.trace import compare_traces

        with status(f"comparing {trace.name} and {compare.name}"):
            cmp = compare_traces(trace, compare, top=top)
        page = None
        if html is not None:
            from trainperf.report.trace_html import render_compare_html

            page = render_compare_html(cmp, top=top)
        render_comparison(cmp, json_out=json_out, top=top)
    else:
        from trainperf.report.trace_text import render_analysis
        from trainperf.trace import analyze

        with status(f"analyzing {trace.name}"):
            res = analyze(trace, gpu=gpu, top=max(top, 20))
        page = None
        if html is not None:
            from trainperf.report.trace_html import render_html

            page = render_html(res)
        render_analysis(res, json_out=json_out, top=top)
    if html is not None and page is not None:
        replaced = write_text_atomic(html, page, flag="--html")
        typer.echo(f"{'replaced' if replaced else 'wrote'} {html}", err=json_out)
