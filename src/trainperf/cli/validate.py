"""`trainperf validate` (published measurements vs predictions) and `trainperf plan` (one parallel layout
of a model on a cluster: step time, throughput, MFU, memory and time breakdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("validate")(validate_cmd)


def validate_cmd(
    csv: Annotated[Path | None, typer.Argument(
        help="CSV with the columns of the packaged published_training_perf.csv (default: that file, 507 "
             "published runs; its README names each source)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write per-row predictions here (CSV)")] = None,
    engine: Annotated[str, typer.Option(help="plan (analytic, ~2 s for the 507 runs) or sim (event simulation of "
                                             "each run's layout, ~10 min; progress on stderr)")] = "plan",
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON (rows, supported, "
                                                          "memory_misses, error statistics by group)")] = False,
) -> None:
    """Predict every row of a published-measurements CSV from its architecture, GPU, layout, batch,
    recompute and precision; print median and p90 |error| of tokens/s/GPU overall and by source, GPU and
    architecture, and the share of rows supported. OUT.csv columns: id, predicted_tokens_per_s_per_gpu,
    predicted_step_time_s, predicted_mfu, predicted_mem_gib, status (ok | infeasible | unsupported), reason,
    memory_fits (false: a measured run the memory model calls infeasible, priced anyway and counted as a
    memory-model miss)."""
    from trainperf.report.output import check_output, write_atomic
    from trainperf.report.plan_text import render_validation
    from trainperf.validation.validate import validate_csv, write_output

    if csv is None:
        from trainperf.data import PUBLISHED_CSV

        csv = PUBLISHED_CSV
    if output is not None:
        check_output(output, inputs=[csv])  # before the work: never overwrite the input
    from trainperf.validation.validate import ENGINES

    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")

    def progress(done: int, total: int) -> None:
        if engine == "sim" and (done % 25 == 0 or done == total):
            typer.echo(f"  simulated {done}/{total} rows", err=True)

    result, summary = validate_csv(csv, engine=engine, progress=progress)
    if output is not None and write_atomic(output, lambda tmp: write_output(result, tmp)):
        typer.echo(f"replaced {output}", err=True)
    if json_out:
        import orjson

        typer.echo(orjson.dumps({
            "rows": summary.rows, "supported": summary.supported, "memory_misses": summary.memory_misses,
            "engine": engine, "output": str(output) if output else None,
            "by": {k: df.to_dicts() for k, df in summary.by.items()}}, option=orjson.OPT_INDENT_2).decode())
        return
    render_validation(summary, str(output) if output else None)

