"""`trainperf capture`: one training step of a workload (zoo name or FILE.py:FUNCTION) as an OpGraph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_cmd)


def capture_cmd(
    workload: Annotated[str, typer.Argument(
        help="zoo workload name (see `trainperf zoo`), or path/to/file.py:function returning a "
             "trainperf.workloads.Built or Workload")] = "llama3.2-1b",
    flavor: Annotated[str, typer.Option(help="full (published architecture) or tiny")] = "full",
    batch: Annotated[int | None, typer.Option(help="micro-batch size (default: the workload's canonical)")] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length in tokens")] = None,
    image_size: Annotated[int | None, typer.Option(help="image side in pixels (vision, diffusion)")] = None,
    dtype: Annotated[str, typer.Option(help="bf16, fp16 or fp32 (parameters and activations)")] = "bf16",
    real: Annotated[bool, typer.Option(help="run on real CPU tensors instead of fake ones (small models only)")] = False,
    no_replicate: Annotated[bool, typer.Option("--no-replicate", help="capture every block instead of once per distinct block")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the OpGraph as Parquet here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    top: Annotated[int, typer.Option(min=1, help="how many modules to list")] = 10,
) -> None:
    """Capture one full training step (forward, backward, optimizer) on fake tensors, no GPU needed,
    and print where its FLOPs and bytes are: by category, by phase, top modules, memory of the step."""
    from trainperf.capture.api import capture_built, capture_workload
    from trainperf.capture.summary import summarize
    from trainperf.capture.user import load_user_workload
    from trainperf.report.capture_text import render_capture
    from trainperf.report.progress import status
    from trainperf.workloads import Size

    size = Size(batch=batch, seq=seq, image_size=image_size)
    from trainperf.report.output import check_output, write_atomic

    if output is not None:
        check_output(output, inputs=[Path(workload.split(":", 1)[0])] if ":" in workload else [])  # before the work
    with status(f"capturing {workload} ({flavor}, {dtype})"):
        if ":" in workload and workload.split(":", 1)[0].endswith(".py"):
            built, name = load_user_workload(workload, flavor, size)
            graph = capture_built(built, name=name, flavor=flavor, dtype=dtype, real=real)
        else:
            graph = capture_workload(workload, flavor, size, dtype, real=real, replicate=not no_replicate)
    if output is not None and write_atomic(output, graph.write_parquet):
        typer.echo(f"replaced {output}", err=True)
    render_capture(graph, summarize(graph, top), json_out=json_out, output=output)
