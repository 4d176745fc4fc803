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


def render_priorities(ranked: pl.DataFrame, together: float, alone: float, *, weighted: bool) -> None:
    """The fixes that would recover the most GPU-hours across the fleet, with the overlap said."""
    from rich.console import Console
    from rich.table import Table

    how = "GPU-hours weighted (--weights)" if weighted else "every workload weighted the same"
    t = Table(title=f"fixes that would speed up the fleet most (share of fleet time recovered, {how}; each fix "
                    "priced by the model as it would run)", title_justify="left")
    for c in ("fix", "what", "fleet share", "workloads helped", "helps most"):
        t.add_column(c, justify="right" if c in ("fleet share", "workloads helped") else "left")
    for r in ranked.iter_rows(named=True):
        t.add_row(r["fix"], r["what"], pct(r["fleet_share"]), str(r["workloads"]), r["top_workloads"])
    con = Console()
    con.print(t)
    con.print(f"all fixes together recover {pct(together)} of fleet time; the fixes alone add up to {pct(alone)} "
              + ("(they overlap: time two fixes would each claim)" if alone > together else
                 "(they compound: together they recover more than their sum)"))


def render_cluster_fleet(df: pl.DataFrame, *, json_out: bool = False) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(df.to_dicts(), option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="fleet on a cluster, each LLM at its searched best layout, lowest MFU first")
    for c in ("workload", "layout", "tokens/s/GPU", "MFU", "bubble", "exposed comm", "memory"):
        t.add_column(c, justify="left" if c in ("workload", "layout") else "right")
    for r in df.iter_rows(named=True):
        if r["status"] != "ok":
            t.add_row(r["workload"], f"{r['status']}: {r['reason']}", "-", "-", "-", "-", "-")
            continue
        comm = pct(r["exposed_comm_share"]) + (f" ({r['top_exposed_comm']})" if r["top_exposed_comm"] else "")
        t.add_row(r["workload"], r["layout"], f"{r['tokens_per_s_per_gpu']:,.0f}", pct(r["mfu"]),
                  pct(r["bubble_share"]), comm, gib(r["mem_gib"] * 2**30))
    Console().print(t)
