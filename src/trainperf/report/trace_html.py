"""One self-contained HTML file for `trainperf analyze --html` (and `--compare --html`): no scripts, no CDN,
charts are inline SVG (zoomable timeline of GPU work with a tooltip per block, temporal breakdown bars,
kernel categories, roofline scatter) plus the opportunity list and the main tables. Opens offline in any
browser; shared pieces (palette, CSS, tables, bars, timeline) in report/html_common.py."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import polars as pl

from trainperf.report.html_common import COLORS as COLORS  # the palette, re-exported where it always was
from trainperf.report.html_common import bars, colour, df_table, legend, page, timeline
from trainperf.report.units import pct, seconds

_PARTS = ["compute", "communication", "copy", "idle_host", "idle_sync", "idle_other"]
"""The temporal breakdown's parts of a step, in drawing order."""


def _ms(ns: float | None) -> str:
    """A time, signed (units.seconds takes magnitudes: -55 ms would print as "-55148.5 us")."""
    if ns is None or (isinstance(ns, float) and not math.isfinite(ns)):
        return "-"
    return ("-" if ns < 0 else "") + seconds(abs(float(ns)) * 1e-9)


def timeline_html(events: pl.DataFrame, max_ranks: int = 64) -> str:
    """Per rank, a lane per kind of GPU work (compute, communication, copy) over the whole trace; kernels
    are merged into blocks below the timeline's resolution, each coloured by its longest kernel's category
    and titled with its kernels."""
    g = events.filter("gpu")
    if g.height == 0:
        return "<p>no GPU events</p>"
    kind = (pl.when(pl.col("category") == "communication").then(pl.lit("communication"))
            .when(pl.col("category") == "copy").then(pl.lit("copy")).otherwise(pl.lit("compute")))
    t0 = int(g["ts"].min())  # type: ignore[arg-type]
    span = max(1, int((g["ts"] + g["dur"]).max()) - t0)  # type: ignore[arg-type]
    every = sorted(g["rank"].unique().to_list())
    ranks = every[:max_ranks]
    kinds = [k for k in ("compute", "communication", "copy") if k in set(g.select(kind).to_series().to_list())]
    lanes = [(r, k) for r in ranks for k in kinds]
    index = pl.DataFrame({"rank": [r for r, _ in lanes], "kind": [k for _, k in lanes],
                          "lane": list(range(len(lanes)))}, schema_overrides={"rank": g.schema["rank"]})
    iv = (g.filter(pl.col("rank").is_in(ranks)).with_columns(kind=kind).join(index, on=["rank", "kind"])
          .select("lane", s=(pl.col("ts") - t0) / 1e9, e=(pl.col("ts") + pl.col("dur") - t0) / 1e9,
                  cat=pl.col("category").cast(pl.String), name=pl.col("name").cast(pl.String)))
    more = f"<p class='dim'>the first {max_ranks} of {len(every)} ranks</p>" if len(every) > max_ranks else ""
    return timeline("gpu", [f"rank {r} {k}" for r, k in lanes], iv, span / 1e9) + more


def breakdown_svg(temporal: pl.DataFrame) -> str:
    """One stacked bar per rank (its mean window on a common scale): compute, communication, copy, idle
    (host, sync, other)."""
    steps = temporal.filter(pl.col("step") >= 0)
    t = (steps if steps.height else temporal).group_by("rank").agg(pl.col("window", *_PARTS).mean()).sort(
        "rank").head(64)
    return bars([(f"rank {r['rank']}", r["window"], [(k, r[k], k) for k in _PARTS]) for r in t.iter_rows(named=True)],
                _ms)


def categories_svg(kernels: pl.DataFrame, width: int = 600) -> str:
    k = kernels.group_by("category").agg(pl.col("time_per_step_ns").mean(), pl.col("time_ns").sum()).sort(
        "time_ns", descending=True)
    if k.height == 0:
        return ""
    top = float(k.select(pl.col("time_per_step_ns").max()).item() or 1)
    parts = [f'<svg class="chart categories" width="{width + 250}" height="{k.height * 22 + 10}">']
    for i, r in enumerate(k.iter_rows(named=True)):
        y = 5 + i * 22
        w = width * r["time_per_step_ns"] / top
        parts.append(f'<text x="0" y="{y + 13}">{escape(r["category"])}</text>'
                     f'<rect x="95" y="{y}" width="{w:.1f}" height="16" fill="{colour(r["category"])}"><title>'
                     f'{escape(r["category"])}: {_ms(r["time_per_step_ns"])}/step</title></rect>'
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
                    colour=colour(r["cost_category"]),
                    title=f"{r['op']} x{r['calls']}: {_ms(r['time_ns'])}, {pct(r['sol_frac'] or 0)} of SOL, "
                          f"{r['bound_by']}-bound") for r in s.iter_rows(named=True)]
    cats = sorted({c for c in s["cost_category"].to_list() if c})
    return roofline(points, {p: "/".join(d) for p, d in roofs.items()}, gpu.hbm_bw_GBps / 1e3,
                    width=width, height=height) + legend(cats)


def render_html(a: Any) -> str:
    """The whole report as one HTML string."""
    ts = a.trace
    out = [f"<h1>trainperf trace analysis</h1><p>{escape(ts.source)}: {len(ts.ranks)} rank(s), "
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
        out += ["<h2>Timeline (GPU work, whole trace)</h2>", timeline_html(ts.events),
                f"<p class='dim'>every kernel, with its arguments and the CPU side: open {escape(ts.source)} in "
                "Perfetto UI (ui.perfetto.dev, 'Open trace file'; it reads the file in the browser)</p>",
                f"<h2>Temporal breakdown (mean {per})</h2>", breakdown_svg(a.temporal),
                f"<h2>GPU kernel time by category ({per}, mean over ranks)</h2>", categories_svg(a.kernels),
                "<h2>Top kernels (whole trace)</h2>",
                df_table(a.top_kernels, {"kernel": lambda r: (r["name"] or "(no name)")[:120],
                                         "category": lambda r: r["category"],
                                         "calls": lambda r: r["count"], "total": lambda r: _ms(r["time_ns"]),
                                         "mean": lambda r: _ms(r["mean_ns"]), "share": lambda r: pct(r["share"])})]
    if a.collectives.height:
        out += ["<h2>Collectives (whole trace)</h2>", df_table(a.collectives, {
            "rank": lambda r: r["rank"], "kind": lambda r: r["kind"], "calls": lambda r: r["count"],
            "time": lambda r: _ms(r["time_ns"]),
            "busbw GB/s": lambda r: "-" if r["busbw_GBps"] is None else f"{r['busbw_GBps']:.1f}",
            "overlap (own)": lambda r: "-" if r["overlap"] is None else pct(r["overlap"])})]
    if a.host.height:
        hper = "per step" if a.host["steps"].min() else "whole trace"
        out += [f"<h2>Host time by op ({hper}; self = without nested ops)</h2>", df_table(a.host_ops.head(30), {
            "op": lambda r: r["name"], "rank": lambda r: r["rank"], "calls": lambda r: f"{r['calls_per_step']:.1f}",
            "self": lambda r: _ms(r["self_per_step_ns"]), "share": lambda r: pct(r["share"])})]
    out += ["<h2>Roofline (ops recorded with shapes, whole trace)</h2>", roofline_svg(a.sol, a.gpu)]
    if "sol_ns" in a.sol.columns and a.sol.filter("covered").height:
        out.append(df_table(a.sol.filter("covered").head(30), {
            "op": lambda r: r["op"], "calls": lambda r: r["calls"], "time": lambda r: _ms(r["time_ns"]),
            "SOL": lambda r: _ms(r["sol_ns"]), "% SOL": lambda r: pct(r["sol_frac"] or 0),
            "TFLOP/s": lambda r: f"{r['achieved_tflops']:.1f}", "GB/s": lambda r: f"{r['achieved_GBps']:.0f}",
            "bound by": lambda r: r["bound_by"]}))
    return page(f"trainperf: {ts.source}", "\n".join(out))


def render_compare_html(c: Any, *, top: int = 15) -> str:
    """A trace comparison (TraceComparison) as one HTML page: A and B as stacked bars (per step by part, and
    by kernel category) on one scale, then the tables, B against A, per step."""
    parts = {r["part"]: r for r in c.temporal.iter_rows(named=True)}
    cats = list(c.categories.iter_rows(named=True))
    out = [f"<h1>trainperf trace comparison</h1><p>A: {escape(c.a)}<br>B: {escape(c.b)}</p>",
           "<h2>Per step, A and B (mean over ranks)</h2>",
           bars([(ab, parts["window"][f"{ab.lower()}_ns"] if "window" in parts else 0.0,
                  [(k, parts[k][f"{ab.lower()}_ns"] or 0.0, k) for k in _PARTS if k in parts]) for ab in "AB"], _ms),
           "<h2>Kernel time per step by category, A and B (mean over ranks)</h2>",
           bars([(ab, sum(r[f"{ab.lower()}_ns"] or 0.0 for r in cats),
                  [(r["category"], r[f"{ab.lower()}_ns"] or 0.0, r["category"]) for r in cats]) for ab in "AB"], _ms)]
    for title, df, key in (("Per step", c.temporal, "part"), ("Per rank, largest change first", c.ranks, "part"),
                           ("Kernel time per step by category", c.categories, "category"),
                           ("Kernels that changed most (per step)", c.kernels, "name")):
        out += [f"<h2>{title} (mean over ranks)</h2>", df_table(df.head(top), {
            key: lambda r, k=key: str(r[k])[:120], "A": lambda r: _ms(r["a_ns"]), "B": lambda r: _ms(r["b_ns"]),
            "B - A": lambda r: _ms(r["delta_ns"]),
            "change": lambda r: "-" if r["delta_frac"] is None else f"{r['delta_frac']:+.1%}"})]
    return page(f"trainperf: {c.a} vs {c.b}", "\n".join(out))
