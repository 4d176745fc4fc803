"""`trainperf profile`: real training steps on the local device, timed, with a Kineto trace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_cmd)


def profile_cmd(
    workload: Annotated[str, typer.Argument(help="zoo workload name (see `trainperf zoo`)")],
    flavor: Annotated[str, typer.Option(help="tiny (default) or full")] = "tiny",
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
    dtype: Annotated[str, typer.Option(help="fp32, bf16 or fp16")] = "fp32",
    batch: Annotated[int | None, typer.Option(help="micro-batch size")] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length in tokens")] = None,
    image_size: Annotated[int | None, typer.Option(help="image side in pixels")] = None,
    steps: Annotated[int, typer.Option(help="timed steps (and as many recorded)")] = 3,
    warmup: Annotated[int, typer.Option(help="untimed warm-up steps")] = 2,
    trace: Annotated[Path | None, typer.Option("-o", "--trace", help="write a Kineto trace (JSON) here; analyze it with `trainperf analyze`")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run real training steps of a workload on this machine's CPU or GPU and report measured step time
    and throughput; optionally record a profiler trace of the same steps."""
    from trainperf.profile import ProfileConfig, profile_workload
    from trainperf.report.progress import status
    from trainperf.workloads import Size

    if trace is not None and trace.resolve().parent.exists():  # (a missing folder is created)
        from trainperf.report.output import check_output

        check_output(trace, flag="--trace")  # before the steps run: a folder or a file-as-parent is refused
    replaced = trace is not None and trace.exists()
    cfg = ProfileConfig(device=device, dtype=dtype, steps=steps, warmup=warmup)
    with status(f"profiling {workload} ({flavor}) on {device}"):
        res = profile_workload(workload, flavor, Size(batch=batch, seq=seq, image_size=image_size), cfg, trace)
    if replaced:
        typer.echo(f"replaced {trace}", err=True)
    if json_out:
        import orjson

        print(orjson.dumps({"workload": res.workload, "device": res.device, "step_times_s": res.step_times_s,
                            "median_step_s": res.median_step_s, "throughput_per_s": res.throughput,
                            "unit": res.unit, "trace": str(res.trace_path) if res.trace_path else None,
                            **res.extra}).decode())
        return
    from trainperf.report.units import seconds, si

    print(f"{res.workload} on {res.device}: median step {seconds(res.median_step_s)} over {len(res.step_times_s)} steps, "
          f"{si(res.throughput)} {res.unit}s/s" + (f"; trace: {res.trace_path}" if res.trace_path else ""))
