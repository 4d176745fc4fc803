"""Terminal and JSON rendering of a capture summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from trainperf.capture.summary import CaptureSummary
from trainperf.opgraph import OpGraph
from trainperf.report.units import gib, pct, si


def capture_json(graph: OpGraph, s: CaptureSummary) -> dict[str, Any]:
    import dataclasses

    return {
        "meta": dataclasses.asdict(graph.meta),
        "ops": s.n_ops, "kernels": s.n_kernels, "flops": s.total_flops, "bytes": s.total_bytes,
        "by_category": s.by_category.to_dicts(), "by_phase": s.by_phase.to_dicts(),
        "top_modules": s.top_modules.to_dicts(), "uncovered": s.uncovered.to_dicts(), "memory_bytes": s.memory,
    }


def _table(title: str, df: pl.DataFrame, key: str) -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in (key, "ops", "kernels", "FLOPs", "share", "bytes", "FLOP/B"):
        t.add_column(c, justify="left" if c == key else "right")
    for r in df.iter_rows(named=True):
        t.add_row(str(r[key]), str(r["ops"]), str(r["kernels"]), si(r["flops"]), pct(r["flops_share"]),
                  si(r["bytes"], "B"), f"{r['flops_per_byte']:.1f}")
    return t


def render_capture(graph: OpGraph, s: CaptureSummary, *, json_out: bool = False, output: Path | None = None) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(capture_json(graph, s), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())
        return
    from rich.console import Console

    m = graph.meta
    con = Console()
    rep = f", {m.replicated_layers} blocks from {m.captured_layers} captured" if m.replicated_layers else ""
    con.print(f"[bold]{m.workload}[/bold] ({m.flavor}) batch={m.batch}" + (f" seq={m.seq}" if m.seq else "")
              + f" {m.dtype}: {m.n_params / 1e9:.3f} B params, {s.n_ops} ops, {s.n_kernels} kernels{rep}")
    per_unit = s.total_flops / max(m.units_per_step, 1)
    con.print(f"step FLOPs {si(s.total_flops)} ({si(per_unit)}/{m.unit}); model FLOPs (analytic) "
              f"{si(m.model_flops)}; bytes moved {si(s.total_bytes, 'B')}")
    con.print(_table("by category", s.by_category, "category"))
    con.print(_table("by phase", s.by_phase, "phase"))
    con.print(_table("top modules", s.top_modules, "module_group"))
    mem = s.memory
    con.print("memory of the step (one replica, unsharded): " + ", ".join(f"{k} {gib(v)}" for k, v in mem.items())
              + f"; total {gib(sum(mem.values()))}")
    if s.uncovered.height:
        con.print(f"[yellow]uncovered ops (no cost formula, counted as 0): "
                  f"{', '.join(f'{r[0]} x{r[1]}' for r in s.uncovered.iter_rows())}[/yellow]")
    if output is not None:
        con.print(f"wrote {output}")
