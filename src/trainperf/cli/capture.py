"""`trainperf capture`: one training step of a workload as an OpGraph, with a summary."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Filled in by the capture module."""
