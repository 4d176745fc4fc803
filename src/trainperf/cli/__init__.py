"""The ``trainperf`` command line: thin wrappers that parse arguments, call one library function, render.

Each subcommand lives in its own module with a ``register(app)`` function. Heavy libraries are imported
inside the commands, so ``trainperf --help`` answers fast.
"""

from __future__ import annotations

import sys

import typer

from trainperf.cli import (
    analyze,
    capture,
    export,
    fleet,
    hw,
    optimize,
    plan,
    predict,
    profile,
    results,
    simulate,
    study,
    validate,
    zoo,
)

app = typer.Typer(
    name="trainperf",
    help=(
        "Training performance engineering: analyze profiler traces, capture and predict training steps "
        "on any GPU or cluster, and rank what to fix.\n\n"
        "Start with `trainperf zoo` (the workloads), `trainperf capture llama3.1-8b` (one step as an op "
        "graph), `trainperf analyze TRACE` (where a real run's time went)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring line breaks inside a paragraph are joined
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _module in (zoo, capture, profile, hw, predict, plan, simulate, export, fleet, validate, analyze, optimize,
                study, results):
    _module.register(app)


def _version_flag(value: bool) -> None:
    if value:
        from trainperf import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_flag, is_eager=True,
                                 help="Print the trainperf version and exit."),
) -> None:
    """Training performance engineering: analyze, predict, optimize."""


@app.command("version")
def version() -> None:
    """Print the trainperf version."""
    from trainperf import __version__

    typer.echo(__version__)


class UserError(Exception):
    """An error in the user's input; printed as one line without a traceback."""


def main() -> None:
    """Entry point: run the app; input errors become one clear line on stderr and exit code 2."""
    try:
        app()
    except (UserError, ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        typer.echo(f"error: {msg}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
