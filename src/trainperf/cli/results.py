"""`trainperf results list|show|compare`: read back the runs that study, fleet and optimize stored with
``--db FILE`` (one embedded DuckDB file; study/store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

results_app = typer.Typer(help="Read the results database that `study`, `fleet` and `optimize` write with --db.",
                          no_args_is_help=True)

Db = Annotated[Path, typer.Option(help="the DuckDB results file (written with --db by study, fleet, optimize)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]


def register(app: typer.Typer) -> None:
    app.add_typer(results_app, name="results")


@results_app.command("list")
def list_cmd(db: Db, kind: Annotated[str | None, typer.Option(help="study, fleet or optimize")] = None,
             json_out: Json = False) -> None:
    """Every stored run, newest first: id, kind, when, rows, hardware, trainperf version and git commit."""
    from trainperf.report.study_text import render_runs
    from trainperf.study.store import ROW_TABLE, list_runs

    if kind is not None and kind not in ROW_TABLE:
        raise ValueError(f"--kind {kind!r}: choose one of {', '.join(ROW_TABLE)}")
    render_runs(list_runs(db, kind=kind), json_out=json_out)


@results_app.command("show")
def show_cmd(run: Annotated[str, typer.Argument(help="run id (or its first characters)")], db: Db,
             json_out: Json = False) -> None:
    """One run's rows, as the command that made it stored them."""
    from trainperf.report.study_text import render_rows
    from trainperf.study.store import find_run, read_rows

    r = find_run(db, run)
    render_rows(read_rows(db, r), title=f"{r.kind} run {r.run_id} ({r.created} UTC, {r.hardware})",
                json_out=json_out)


@results_app.command("compare")
def compare_cmd(a: Annotated[str, typer.Argument(help="the reference run id")],
                b: Annotated[str, typer.Argument(help="the run to compare with it")], db: Db,
                json_out: Json = False) -> None:
    """Two runs of one kind side by side, matched row by row (study: job and point; fleet: workload and
    GPU; optimize: workload and candidate): each one's step time and B / A."""
    from trainperf.report.study_text import render_rows
    from trainperf.study.store import compare_runs, find_run

    ra, rb = find_run(db, a), find_run(db, b)
    render_rows(compare_runs(db, ra, rb), title=f"{rb.run_id} vs {ra.run_id} ({ra.kind}): step time, B / A",
                json_out=json_out)


DbOpt = Annotated[Path | None, typer.Option(help="also store the run in this DuckDB results file (created if "
                                                 "missing; read with `trainperf results list --db FILE`)")]


def check_db(db: Path | None) -> None:
    """Refuse a bad --db before the work (a folder, a missing parent, inside the package)."""
    if db is not None:
        from trainperf.study.store import check_db_path

        check_db_path(db)


def store(db: Path | None, kind: str, rows: object, *, hardware: str, args: dict[str, object]) -> str | None:
    """Write one run to --db (if given) and say its id on stderr."""
    if db is None:
        return None
    from trainperf.study.store import write_run

    run_id = write_run(db, kind, rows, hardware=hardware, args=args)  # type: ignore[arg-type]
    typer.echo(f"stored as {kind} run {run_id} in {db}", err=True)
    return run_id
