"""Rows and rendering for `trainperf zoo`."""

from __future__ import annotations

from typing import Any

from trainperf.workloads.registry import Workload


def _fmt_count(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def zoo_rows(workloads: list[Workload]) -> list[dict[str, Any]]:
    rows = []
    for w in workloads:
        s = w.canonical["full"]
        rows.append({
            "name": w.name,
            "domain": w.domain.value,
            "library": w.library,
            "params": w.published_params,
            "batch": s.batch,
            "seq": s.seq,
            "image_size": s.image_size,
            "train_flops_per_unit": w.train_flops_per_unit,
            "unit": "token" if s.seq is not None and w.domain.value in ("llm", "moe", "encoder") else "sample",
            "fake_ok": w.fake_ok,
            "fake_note": w.fake_note,
            "description": w.description,
        })
    return rows


def render_zoo(rows: list[dict[str, Any]], *, json_out: bool = False) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"trainperf zoo: {len(rows)} workloads")
    for col in ("name", "domain", "library", "params", "canonical size", "train FLOPs/unit", "fake capture"):
        t.add_column(col, justify="right" if col in ("params", "train FLOPs/unit") else "left")
    for r in rows:
        size = f"b={r['batch']}" + (f" seq={r['seq']}" if r["seq"] else "") + (f" img={r['image_size']}" if r["image_size"] else "")
        flops = f"{_fmt_count(r['train_flops_per_unit'])}/{r['unit']}" if r["train_flops_per_unit"] else "-"
        t.add_row(r["name"], r["domain"], r["library"], _fmt_count(r["params"]), size, flops,
                  "yes" if r["fake_ok"] else f"no ({r['fake_note'] or 'data-dependent'})")
    Console().print(t)
