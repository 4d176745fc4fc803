"""`trainperf predict` (not yet built; its issue owns this module)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
