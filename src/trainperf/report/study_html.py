"""One self-contained HTML file for `trainperf study --html`: no scripts, no network. Two table heatmaps
(step time per job and point, relative to the job's base point; elasticity per job and knob) plus the
per-job summary and every point; what limits each job carries its palette colour. House style and helpers
from report/html_common.py."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import polars as pl

from trainperf.report.html_common import COLORS, colour, df_table, page
from trainperf.report.units import pct, seconds

HEAT_CSS = ".heat td{text-align:center;min-width:56px}.heat td:first-child{text-align:left}"


def _ratio_color(r: float) -> str:
    """Blue when faster than the base point, red when slower; log scale, saturating at 4x either way."""
    x = max(-1.0, min(1.0, math.log(r) / math.log(4))) if r > 0 else 0.0
    a = abs(x)
    rgb = (255, int(255 - 140 * a), int(255 - 140 * a)) if x > 0 else (int(255 - 140 * a), int(255 - 90 * a), 255)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _elastic_color(e: float) -> str:
    """-1 (fully bound by the knob) dark orange, 0 white."""
    a = max(0.0, min(1.0, -e))
    return f"#{255:02x}{int(255 - 120 * a):02x}{int(255 - 200 * a):02x}"


def step_heatmap(table: pl.DataFrame, summary: pl.DataFrame) -> str:
    """Rows = jobs, columns = points: step time, cell colour = time / the job's base-point time."""
    pts = table["point"].unique(maintain_order=True).to_list()
    base = {(r["workload"], r["gpus"]): r["base_step_s"] for r in summary.iter_rows(named=True)}
    head = "".join(f"<th>{escape(p)}</th>" for p in pts)
    body = []
    for (wl, g), grp in table.group_by(["workload", "gpus"], maintain_order=True):
        cells = {r["point"]: r for r in grp.iter_rows(named=True)}
        tds = []
        for p in pts:
            r = cells.get(p)
            if r is None or r["status"] != "ok":
                why = escape(r["reason"] or r["status"]) if r else "not run"
                tds.append(f"<td style='background:#eee' title='{why}'>-</td>")
                continue
            b = base.get((wl, g))
            ratio = r["step_time_s"] / b if b else 1.0
            tds.append(f"<td class='n' style='background:{_ratio_color(ratio)}' title='{escape(r['layout'] or '')}; "
                       f"limited by {escape(r['limited_by'] or '')}; x{ratio:.2f} of base'>"
                       f"{escape(seconds(r['step_time_s']))}</td>")
        body.append(f"<tr><td>{escape(wl)}@{g}</td>{''.join(tds)}</tr>")
    return f"<table class='heat'><tr><th>job</th>{head}</tr>{''.join(body)}</table>"


def _limit(text: str | None) -> str:
    """'compute matmul' with the swatch of matmul ('exposed comm tp': communication, 'pipeline bubble': bubble)."""
    words = str(text).split()
    key = "communication" if words[:1] == ["exposed"] else next((w for w in reversed(words) if w in COLORS), "")
    sw = f"<i class='sw' style='background:{colour(key)}'></i>" if key else ""
    return f"{sw}{escape(str(text))}"


def elasticity_heatmap(summary: pl.DataFrame) -> str:
    knobs = [c for c in summary.columns if c.startswith("e_")]
    if not knobs:
        return "<p class='dim'>no numeric knob takes two values: no elasticity</p>"
    head = "".join(f"<th>{escape(k[2:])}</th>" for k in knobs)
    rows = []
    for r in summary.iter_rows(named=True):
        tds = "".join("<td>-</td>" if r[k] is None else
                      f"<td style='background:{_elastic_color(r[k])}'>{r[k]:+.2f}</td>" for k in knobs)
        rows.append(f"<tr><td>{escape(r['job'])}</td>{tds}<td>{escape(str(r['most_sensitive']))}</td>"
                    f"<td>{_limit(r['limited_by'])}</td></tr>")
    return (f"<table class='heat'><tr><th>job</th>{head}<th>most sensitive</th><th>limited by</th></tr>"
            f"{''.join(rows)}</table>")


def render_study_html(res: Any) -> str:
    """A StudyResult as one HTML page."""
    t = res.table
    out = ["<h1>trainperf architecture study</h1>",
           f"<p>{t['workload'].n_unique()} workload(s), {len(res.points)} point(s) on {escape(res.hardware)}; each "
           f"job at its searched best layout per point; {res.elapsed_s:.1f} s</p>"]
    out += [f"<p class='warn'>note: {escape(n)}</p>" for n in res.notes]
    out += ["<h2>Elasticity of step time (d log time / d log knob; -1 = fully bound by it)</h2>",
            elasticity_heatmap(res.summary),
            "<h2>Step time per point (colour: vs the job's base point; blue faster, red slower)</h2>",
            step_heatmap(t, res.summary), "<h2>Every point</h2>",
            df_table(t, {"job": lambda r: f"{r['workload']}@{r['gpus']}", "point": lambda r: r["point"],
                          "status": lambda r: r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason']}",
                          "step": lambda r: seconds(r["step_time_s"]) if r["step_time_s"] else "-",
                          "MFU": lambda r: pct(r["mfu"]) if r["mfu"] is not None else "-",
                          "layout": lambda r: r["layout"] or "-",
                          "limited by": lambda r: f"{r['limited_by']} ({pct(r['limited_share'])})" if r["limited_by"]
                          else "-"})]
    return page(f"trainperf study: {res.hardware}", "\n".join(out), css=HEAT_CSS)
