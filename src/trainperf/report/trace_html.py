"""One self-contained HTML file for `trainperf analyze --html`: no scripts, no CDN, charts are inline SVG
drawn here (timeline overview, temporal breakdown bars, kernel categories, roofline scatter) plus the
opportunity list and the main tables. Opens offline in any browser."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import polars as pl

from trainperf.report.units import pct, seconds

COLORS = {"compute": "#4c78a8", "communication": "#f58518", "copy": "#54a24b", "idle": "#d3d3d3",
          "idle_host": "#e45756", "idle_sync": "#b279a2", "idle_other": "#bab0ac",
          "matmul": "#4c78a8", "attention": "#72b7b2", "conv": "#9d755d", "norm": "#eeca3b",
          "elementwise": "#54a24b", "reduction": "#b279a2", "embedding": "#ff9da6", "optimizer": "#e45756",
          "copy_k": "#88d27a", "other": "#bab0ac"}
CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.warn{color:#a15c00}.opp{margin:10px 0}
.opp b{font-size:15px}.dim{color:#666}.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}svg text{font:11px system-ui,sans-serif}"""


def _ms(ns: float | None) -> str:
    """A time, signed (units.seconds takes magnitudes: -55 ms would print as "-55148.5 us")."""
    if ns is None or (isinstance(ns, float) and not math.isfinite(ns)):
        return "-"
    return ("-" if ns < 0 else "") + seconds(abs(float(ns)) * 1e-9)


def _legend(keys: list[str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="sw" style="background:{COLORS.get(k, "#999")}"></i>{escape(k)}</span>' for k in keys) + "</div>"


def _table(df: pl.DataFrame, cols: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(f(r)))}</td>" for f in cols.values()) + "</tr>"
                   for r in df.iter_rows(named=True))
    return f"<table><tr>{head}</tr>{body}</table>"


def timeline_svg(events: pl.DataFrame, width: int = 1100, lane: int = 18) -> str:
    """Per rank, three lanes (compute, communication, copy) of GPU activity over the whole trace; intervals
    closer than one pixel are merged so the SVG stays small for any trace size."""
    from trainperf.trace.analyses._intervals import union

    g = events.filter("gpu").with_columns(
        kind=pl.when(pl.col("category") == "communication").then(pl.lit("communication"))
        .when(pl.col("category") == "copy").then(pl.lit("copy")).otherwise(pl.lit("compute")))
    if g.height == 0:
        return "<p>no GPU events</p>"
    t0, t1 = g["ts"].min(), (g["ts"] + g["dur"]).max()
    span = max(1, int(t1) - int(t0))  # type: ignore[arg-type]
    px = span / width
    iv = g.select("rank", "kind", s="ts", e=pl.col("ts") + pl.col("dur") + int(px))
    u = union(iv, ["rank", "kind"])
    ranks = sorted(g["rank"].unique().to_list())[:64]
    kinds = ["compute", "communication", "copy"]
    h = len(ranks) * (3 * lane + 8) + 20
    parts = [f'<svg width="{width + 60}" height="{h}" xmlns="http://www.w3.org/2000/svg">']
    for i, r in enumerate(ranks):
        y0 = 10 + i * (3 * lane + 8)
        parts.append(f'<text x="0" y="{y0 + 1.5 * lane + 4}">rank {r}</text>')
        for j, k in enumerate(kinds):
            rows = u.filter((pl.col("rank") == r) & (pl.col("kind") == k))
            y = y0 + j * lane
            for s, e in zip(rows["s"].to_list(), rows["e"].to_list(), strict=True):
                x = 55 + (s - t0) / px
                w = max(0.5, (e - s) / px - 1)
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{lane - 3}" fill="{COLORS[k]}"/>')
    parts.append(f'<text x="55" y="{h - 2}">0</text><text x="{width}" y="{h - 2}" text-anchor="end">'
                 f'{_ms(span)}</text></svg>')
    return "".join(parts) + _legend(kinds)


def breakdown_svg(temporal: pl.DataFrame, width: int = 900) -> str:
    """One stacked bar per rank: compute, communication, copy, idle (host, sync, other) per step."""
    steps = temporal.filter(pl.col("step") >= 0)
    t = (steps if steps.height else temporal).group_by("rank").agg(
        pl.col("window", "compute", "communication", "copy", "idle_host", "idle_sync", "idle_other").mean()
    ).sort("rank").head(64)
    keys = ["compute", "communication", "copy", "idle_host", "idle_sync", "idle_other"]
    bar = 18
    parts = [f'<svg width="{width + 80}" height="{t.height * (bar + 4) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, r in enumerate(t.iter_rows(named=True)):
        y, x = 5 + i * (bar + 4), 60.0
        parts.append(f'<text x="0" y="{y + 13}">rank {r["rank"]}</text>')
        for k in keys:
            w = width * (r[k] / r["window"] if r["window"] else 0)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{COLORS[k]}">'
                         f'<title>{k}: {_ms(r[k])} ({pct(r[k] / r["window"] if r["window"] else 0)})</title></rect>')
            x += w
    return "".join(parts) + "</svg>" + _legend(keys)


def categories_svg(kernels: pl.DataFrame, width: int = 600) -> str:
    k = kernels.group_by("category").agg(pl.col("time_per_step_ns").mean(), pl.col("time_ns").sum()).sort(
        "time_ns", descending=True)
    if k.height == 0:
        return ""
    top = float(k.select(pl.col("time_per_step_ns").max()).item() or 1)
    parts = [f'<svg width="{width + 250}" height="{k.height * 22 + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, r in enumerate(k.iter_rows(named=True)):
        y = 5 + i * 22
        w = width * r["time_per_step_ns"] / top
        c = COLORS["copy_k"] if r["category"] == "copy" else COLORS.get(r["category"], "#999")
        parts.append(f'<text x="0" y="{y + 13}">{escape(r["category"])}</text>'
                     f'<rect x="95" y="{y}" width="{w:.1f}" height="16" fill="{c}"/>'
                     f'<text x="{100 + w:.1f}" y="{y + 13}">{_ms(r["time_per_step_ns"])}/step</text>')
    return "".join(parts) + "</svg>"


def roofline_svg(sol: pl.DataFrame, gpu: Any, width: int = 700, height: int = 420) -> str:
    """Ops with shapes on log-log axes: arithmetic intensity (FLOP/byte) vs achieved TFLOP/s, under the
    GPU's roofs (HBM bandwidth slope and the peak of the op's dtype); point area ~ time."""
    from trainperf.report.svg import Point, roofline

    if gpu is None or "intensity" not in sol.columns:
        return "<p class='dim'>no roofline: needs shapes (record_shapes=True) and a known GPU (--gpu)</p>"
    s = sol.filter(pl.col("covered") & (pl.col("flops") > 0) & (pl.col("bytes") > 0) & (pl.col("time_ns") > 0))
    if s.height == 0:
        return "<p class='dim'>no op with FLOPs and bytes to place on a roofline</p>"
    roofs: dict[float, list[str]] = {}
    for d in ("fp32", "tf32", "bf16", "fp16"):
        if gpu.has_precision(d):
            roofs.setdefault(gpu.peak_tflops(d), []).append(d)
    points = [Point(intensity=r["intensity"], tflops=r["achieved_tflops"], weight=r["time_ns"],
                    colour=COLORS.get(r["cost_category"] or "other", "#999"),
                    title=f"{r['op']} x{r['calls']}: {_ms(r['time_ns'])}, {pct(r['sol_frac'] or 0)} of SOL, "
                          f"{r['bound_by']}-bound") for r in s.iter_rows(named=True)]
    cats = sorted({c for c in s["cost_category"].to_list() if c})
    return roofline(points, {p: "/".join(d) for p, d in roofs.items()}, gpu.hbm_bw_GBps / 1e3,
                    width=width, height=height) + _legend(cats)


def render_html(a: Any) -> str:
    """The whole report as one HTML string."""
    ts = a.trace
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>trainperf: {escape(ts.source)}</title>"
           f"<style>{CSS}</style></head><body>",
           f"<h1>trainperf trace analysis</h1><p>{escape(ts.source)}: {len(ts.ranks)} rank(s), "
           f"{ts.events.height:,} events, {escape(ts.device_name or 'no GPU named')}"
           + (f"; speed of light against {escape(a.gpu.name)}" if a.gpu is not None else "") + "</p>"]
    out += [f"<p class='warn'>warning: {escape(w)}</p>" for w in (*ts.warnings, *a.notes)]
    per = "per step" if a.temporal.filter(pl.col("step") >= 0).height else "over the whole trace"
    out.append(f"<h2>What to fix first</h2><p class='dim'>recoverable GPU time {per}; upper bounds; time two items "
               "share is counted once, so they never add up to more than the step</p>")
    if not a.opportunities.height:
        out.append("<p>nothing above 0.5% of the step</p>")
    for i, r in enumerate(a.opportunities.iter_rows(named=True), 1):
        shared = (f"; {_ms(r['alone_ns'])} alone, shares {escape(r['part'])} time with "
                  f"{escape(r['overlaps'])}" if r.get("overlaps") else "")
        out.append(f"<div class='opp'><b>{i}. {escape(r['title'])}</b>: {_ms(r['recover_ns'])} {per} "
                   f"({pct(r['recover_frac'])}){shared}<br><span class='dim'>evidence:</span> {escape(r['evidence'])}"
                   f"<br><span class='dim'>action:</span> {escape(r['action'])}</div>")
    if a.temporal.height:
        out += ["<h2>Timeline overview</h2>", timeline_svg(ts.events),
                f"<h2>Temporal breakdown (mean {per})</h2>", breakdown_svg(a.temporal),
                f"<h2>GPU kernel time by category ({per}, mean over ranks)</h2>", categories_svg(a.kernels),
                "<h2>Top kernels (whole trace)</h2>",
                _table(a.top_kernels, {"kernel": lambda r: (r["name"] or "(no name)")[:120],
                                       "category": lambda r: r["category"],
                                       "calls": lambda r: r["count"], "total": lambda r: _ms(r["time_ns"]),
                                       "mean": lambda r: _ms(r["mean_ns"]), "share": lambda r: pct(r["share"])})]
    if a.collectives.height:
        out += ["<h2>Collectives (whole trace)</h2>", _table(a.collectives, {
            "rank": lambda r: r["rank"], "kind": lambda r: r["kind"], "calls": lambda r: r["count"],
            "time": lambda r: _ms(r["time_ns"]),
            "busbw GB/s": lambda r: "-" if r["busbw_GBps"] is None else f"{r['busbw_GBps']:.1f}",
            "overlap (own)": lambda r: "-" if r["overlap"] is None else pct(r["overlap"])})]
    if a.host.height:
        hper = "per step" if a.host["steps"].min() else "whole trace"
        out += [f"<h2>Host time by op ({hper}; self = without nested ops)</h2>", _table(a.host_ops.head(30), {
            "op": lambda r: r["name"], "rank": lambda r: r["rank"], "calls": lambda r: f"{r['calls_per_step']:.1f}",
            "self": lambda r: _ms(r["self_per_step_ns"]), "share": lambda r: pct(r["share"])})]
    out += ["<h2>Roofline (ops recorded with shapes, whole trace)</h2>", roofline_svg(a.sol, a.gpu)]
    if "sol_ns" in a.sol.columns and a.sol.filter("covered").height:
        out.append(_table(a.sol.filter("covered").head(30), {
            "op": lambda r: r["op"], "calls": lambda r: r["calls"], "time": lambda r: _ms(r["time_ns"]),
            "SOL": lambda r: _ms(r["sol_ns"]), "% SOL": lambda r: pct(r["sol_frac"] or 0),
            "TFLOP/s": lambda r: f"{r['achieved_tflops']:.1f}", "GB/s": lambda r: f"{r['achieved_GBps']:.0f}",
            "bound by": lambda r: r["bound_by"]}))
    out.append("</body></html>")
    return "\n".join(out)


def render_compare_html(c: Any, *, top: int = 15) -> str:
    """A trace comparison (TraceComparison) as one HTML page: the three tables, B against A, per step."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>trainperf: {escape(c.a)} vs {escape(c.b)}"
           f"</title><style>{CSS}</style></head><body><h1>trainperf trace comparison</h1>"
           f"<p>A: {escape(c.a)}<br>B: {escape(c.b)}</p>"]
    for title, df, key in (("Per step", c.temporal, "part"), ("Per rank, largest change first", c.ranks, "part"),
                           ("Kernel time per step by category", c.categories, "category"),
                           ("Kernels that changed most (per step)", c.kernels, "name")):
        out += [f"<h2>{title} (mean over ranks)</h2>", _table(df.head(top), {
            key: lambda r, k=key: str(r[k])[:120], "A": lambda r: _ms(r["a_ns"]), "B": lambda r: _ms(r["b_ns"]),
            "B - A": lambda r: _ms(r["delta_ns"]),
            "change": lambda r: "-" if r["delta_frac"] is None else f"{r['delta_frac']:+.1%}"})]
    out.append("</body></html>")
    return "\n".join(out)
