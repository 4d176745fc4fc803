"""``trainperf`` / ``python -m trainperf``: the command line.

One command is answered before the CLI framework is imported: ``trainperf analyze FILE [--json] [--top N]
[--gpu NAME]`` of a small trace, by the small-trace engine (trainperf.trace.quick: orjson alone, the same
numbers as the polars engine). Importing typer, polars and pydantic costs more than analyzing a 1 MB
trace; everything else, and anything that engine leaves (a large or unusual file, a folder, --html,
--compare, --help, a bad option), goes to trainperf.cli.main unchanged.
"""

from __future__ import annotations

import sys
from typing import Any


def _quick_args(argv: list[str]) -> dict[str, Any] | None:
    """The options of ``analyze FILE [--json] [--top N] [--gpu NAME]``, or None for anything else."""
    if len(argv) < 2 or argv[0] != "analyze":
        return None
    out: dict[str, Any] = {"json_out": False, "top": 10, "gpu": None, "file": None}
    it = iter(argv[1:])
    for a in it:
        key, _, val = a.partition("=")
        if a == "--json":
            out["json_out"] = True
        elif key in ("--top", "--gpu"):
            val = val or next(it, "")
            if key == "--gpu":
                out["gpu"] = val or None
                if not val:
                    return None
            elif val.isdigit() and int(val) >= 1:
                out["top"] = int(val)
            else:
                return None  # typer's message
        elif a.startswith("-") or out["file"] is not None:
            return None
        else:
            out["file"] = a
    return out if out["file"] is not None else None


def quick(argv: list[str]) -> bool:
    """Answer ``argv`` with the small-trace engine; False when it is not for it (nothing printed)."""
    opts = _quick_args(argv)
    if opts is None:
        return False
    from trainperf.trace.quick import analyze_small

    try:
        d = analyze_small(opts["file"], gpu=opts["gpu"], top=max(opts["top"], 20))
    except Exception:  # anything unexpected: the full engine answers (or explains)
        return False
    if d is None:
        return False
    from trainperf.report.trace_text import render_analysis

    render_analysis(d, json_out=opts["json_out"], top=opts["top"])
    return True


def main() -> None:
    if quick(sys.argv[1:]):
        return
    from trainperf.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
