"""Terminal and JSON rendering of a study and of the results store."""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.report.units import pct, seconds


def study_json(res: Any) -> dict[str, Any]:
    return {"hardware": res.hardware, "points": [dict(p) for p in res.points], "elapsed_s": res.elapsed_s,
            "notes": list(res.notes), "summary": res.summary.to_dicts(), "rows": res.table.to_dicts()}


def render_study(res: Any, *, json_out: bool = False, run_id: str | None = None) -> None:
    if json_out:
        import orjson

        d = study_json(res) | ({"run_id": run_id} if run_id else {})
        print(orjson.dumps(d, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    s = res.summary
    knobs = [c for c in s.columns if c.startswith("e_")]
    t = Table(title=f"study on {res.hardware}: elasticity of step time (d log time / d log knob), "
                    f"{len(res.points)} points, {res.elapsed_s:.1f} s")
    for c in ("job", "base step", *(k[2:] for k in knobs), "most sensitive", "limited by (base point)", "layout"):
        t.add_column(c, justify="left" if c in ("job", "most sensitive", "limited by (base point)", "layout")
                     else "right")
    for r in s.iter_rows(named=True):
        t.add_row(r["job"], seconds(r["base_step_s"]) if r["base_step_s"] else "-",
                  *("-" if r[k] is None else f"{r[k]:+.2f}" for k in knobs), str(r["most_sensitive"] or "-"),
                  f"{r['limited_by']}" + (f" ({pct(r['limited_share'])})" if r["limited_share"] else ""),
                  r["base_layout"] or "-")
    con.print(t)
    pts = Table(title="step time per point (on a cluster at the searched best layout of each point)")
    for c in ("job", "point", "step", "MFU", "layout", "limited by"):
        pts.add_column(c, justify="right" if c in ("step", "MFU") else "left")
    for r in res.table.iter_rows(named=True):
        if r["status"] != "ok":
            pts.add_row(f"{r['workload']}@{r['gpus']}", r["point"], "-", "-", f"{r['status']}: {r['reason']}", "-")
            continue
        pts.add_row(f"{r['workload']}@{r['gpus']}", r["point"], seconds(r["step_time_s"]), pct(r["mfu"]),
                    r["layout"], f"{r['limited_by']} ({pct(r['limited_share'])})")
    con.print(pts)
    for n in res.notes:
        con.print(f"note: {n}", style="yellow")


def render_runs(runs: list[Any], *, json_out: bool = False) -> None:
    if json_out:
        import dataclasses

        import orjson

        print(orjson.dumps([dataclasses.asdict(r) for r in runs], option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="stored runs, newest first")
    for c in ("run", "kind", "created (UTC)", "rows", "hardware", "version", "git"):
        # ids are what users type into `results show`: never cut them on a narrow terminal
        t.add_column(c, justify="right" if c == "rows" else "left", no_wrap=c in ("run", "git"),
                     min_width=12 if c in ("run", "git") else None)
    for r in runs:
        t.add_row(r.run_id, r.kind, r.created, str(r.rows), r.hardware, r.trainperf_version, r.git_rev)
    Console().print(t)


def render_rows(df: pl.DataFrame, *, title: str, json_out: bool = False) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(df.to_dicts(), option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in df.columns:
        t.add_column(c)
    for row in df.iter_rows():
        t.add_row(*("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    Console().print(t)
