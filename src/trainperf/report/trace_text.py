"""Terminal and JSON rendering of `trainperf analyze` (a TraceAnalysis) and of a trace comparison: a
summary a person can act on in a minute, opportunities first."""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.report.units import pct, seconds


def _ms(ns: float | None) -> str:
    return "-" if ns is None else seconds(float(ns) * 1e-9)


def _json(obj: Any) -> None:
    import orjson

    print(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def _short(name: str, n: int = 70) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def render_analysis(a: Any, *, json_out: bool = False, top: int = 10, con: Any = None) -> None:
    """Print a TraceAnalysis: header, warnings, opportunities, temporal breakdown, categories, top
    kernels, collectives and speed of light."""
    if json_out:
        _json(a.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    con = con or Console()
    ts = a.trace
    dev = ts.device_name or "no GPU named"
    gpu = f" -> SOL vs {a.gpu.name}" if a.gpu is not None else ""
    con.print(f"[bold]{ts.source}[/bold]: {len(ts.ranks)} rank(s), {ts.events.height:,} events, {dev}{gpu}")
    for w in (*ts.warnings, *a.notes):
        con.print(f"[yellow]warning:[/yellow] {w}")
    if a.temporal.height == 0:
        return
    steps = a.temporal.filter(pl.col("step") >= 0)
    t = steps if steps.height else a.temporal
    step_ns = float(t["window"].mean())
    n = t["step"].n_unique() if steps.height else 0
    con.print(f"GPU step time {_ms(step_ns)} (mean over {n} ProfilerStep(s) x {t['rank'].n_unique()} rank(s))"
              if n else f"GPU window {_ms(step_ns)} (no ProfilerStep spans: whole trace)")

    con.print("[bold]What to fix first[/bold] (recoverable time per step; upper bounds)")
    if not a.opportunities.height:
        con.print("  nothing above 0.5% of the step")
    for i, r in enumerate(a.opportunities.iter_rows(named=True), 1):
        con.print(f"[bold]{i}. {r['title']}[/bold]: {_ms(r['recover_ns'])} per step ({pct(r['recover_frac'])})")
        con.print(f"   [dim]evidence:[/dim] {r['evidence']}")
        con.print(f"   [dim]action:[/dim] {r['action']}")

    tb = Table(title="Temporal breakdown (mean per step)", title_justify="left")
    for c in ("rank", "step", "compute", "comm", "copy", "idle", "idle: host / sync / other"):
        tb.add_column(c, justify="right")
    cols = ["compute", "communication", "copy", "idle", "idle_host", "idle_sync", "idle_other"]
    agg = t.group_by("rank").agg(pl.col("window", *cols).mean()).sort("rank")

    def cell(r: dict[str, Any], c: str) -> str:
        return f"{_ms(r[c])} {pct(r[c] / r['window'] if r['window'] else 0)}"

    for r in agg.head(16).iter_rows(named=True):
        tb.add_row(str(r["rank"]), _ms(r["window"]), *(cell(r, c) for c in cols[:4]),
                   " / ".join(pct(r[c] / r["window"] if r["window"] else 0) for c in cols[4:]))
    con.print(tb)

    kb = Table(title="GPU kernel time by category (all ranks, per step)", title_justify="left")
    for c in ("category", "kernels", "time/step", "share"):
        kb.add_column(c, justify="left" if c == "category" else "right")
    k = a.kernels.group_by("category").agg(pl.col("count").sum(), pl.col("time_per_step_ns").mean(),
                                           pl.col("time_ns").sum())
    tot = float(k["time_ns"].sum() or 1)
    for r in k.sort("time_ns", descending=True).iter_rows(named=True):
        kb.add_row(r["category"], f"{r['count']:,}", _ms(r["time_per_step_ns"]), pct(r["time_ns"] / tot))
    con.print(kb)

    tk = Table(title=f"Top {top} kernels", title_justify="left")
    for c in ("kernel", "category", "calls", "total", "mean", "share"):
        tk.add_column(c, justify="left" if c in ("kernel", "category") else "right", overflow="fold")
    for r in a.top_kernels.head(top).iter_rows(named=True):
        tk.add_row(_short(r["name"]), r["category"], f"{r['count']:,}", _ms(r["time_ns"]), _ms(r["mean_ns"]),
                   pct(r["share"]))
    con.print(tk)

    if a.collectives.height:
        ct = Table(title="Collectives", title_justify="left")
        for c in ("rank", "kind", "calls", "time", "mean msg", "algbw GB/s", "busbw GB/s", "overlap"):
            ct.add_column(c, justify="right")
        ov = dict(zip(a.overlap["rank"].to_list(), a.overlap["overlap"].to_list(), strict=True))
        for r in a.collectives.head(16).iter_rows(named=True):
            msg = r["mean_msg_bytes"]
            ct.add_row(str(r["rank"]), r["kind"], str(r["count"]), _ms(r["time_ns"]),
                       "-" if msg is None else f"{msg / 1e6:.2f} MB",
                       "-" if r["algbw_GBps"] is None else f"{r['algbw_GBps']:.1f}",
                       "-" if r["busbw_GBps"] is None else f"{r['busbw_GBps']:.1f}",
                       "-" if ov.get(r["rank"]) is None else pct(ov[r["rank"]]))
        con.print(ct)

    if "sol_ns" in a.sol.columns and a.sol.filter("covered").height:
        s = a.sol_summary
        st = Table(title=f"Speed of light (ops with shapes: {pct(s['covered_frac'])} of op kernel time covered; "
                         f"covered ops run at {pct(s.get('sol_frac', 0))} of SOL)", title_justify="left")
        for c in ("op", "calls", "time", "SOL", "% SOL", "TFLOP/s", "GB/s", "bound by"):
            st.add_column(c, justify="left" if c == "op" else "right")
        for r in a.sol.filter("covered").head(top).iter_rows(named=True):
            st.add_row(r["op"], str(r["calls"]), _ms(r["time_ns"]), _ms(r["sol_ns"]), pct(r["sol_frac"] or 0),
                       f"{r['achieved_tflops']:.1f}", f"{r['achieved_GBps']:.0f}", r["bound_by"] or "-")
        con.print(st)


def render_comparison(c: Any, *, json_out: bool = False, top: int = 15, con: Any = None) -> None:
    """Print a TraceComparison: per-step parts, categories and the kernels that changed most."""
    if json_out:
        _json(c.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    con = con or Console()
    con.print(f"[bold]A[/bold] {c.a}\n[bold]B[/bold] {c.b}")
    for title, df, key in (("Per step", c.temporal, "part"), ("Kernel time per step by category", c.categories,
                                                                 "category"), ("Kernels that changed most", c.kernels, "name")):
        t = Table(title=title, title_justify="left")
        for col in (key, "A", "B", "B - A", "change"):
            t.add_column(col, justify="left" if col == key else "right", overflow="fold")
        for r in df.head(top).iter_rows(named=True):
            t.add_row(_short(str(r[key])), _ms(r["a_ns"]), _ms(r["b_ns"]), _ms(r["delta_ns"]),
                      "-" if r["delta_frac"] is None else f"{r['delta_frac']:+.1%}")
        con.print(t)
