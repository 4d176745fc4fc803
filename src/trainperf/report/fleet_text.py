"""Rendering of the fleet table."""

from __future__ import annotations

import polars as pl

from trainperf.report.units import gib, pct, seconds, si


def render_fleet(df: pl.DataFrame, *, json_out: bool = False) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(df.to_dicts(), option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="fleet, lowest MFU first (predicted; `trainperf predict NAME --gpu GPU --ops` for one)")
    for c in ("workload", "gpu", "step", "throughput", "MFU", "top category (share, SOL %, bound by)", "memory"):
        t.add_column(c, justify="right" if c in ("step", "throughput", "MFU") else "left")
    for r in df.iter_rows(named=True):
        if r["status"] != "ok":
            t.add_row(r["workload"], r["gpu"], "-", "-", "-", f"{r['status']}: {r['reason']}", "-")
            continue
        top = (f"{r['top_category']} ({pct(r['top_category_share'])}, {r['top_category_sol_pct']:.0f}% SOL, "
               f"{r['top_category_bound_by']})" + (" host-bound" if r["host_bound"] else ""))
        mem = gib(r["peak_mem_gib"] * 2**30) + ("" if r["fits"] else " (does not fit)")
        t.add_row(r["workload"], r["gpu"], seconds(r["step_time_s"]), f"{si(r['throughput'])} {r['unit']}/s",
                  pct(r["mfu"]), top, mem)
    Console().print(t)
