"""One self-contained HTML page for `trainperf fleet --html`: every workload's MFU as a bar coloured by
what dominates its step (one colour per category, as in every other report), the table, and with
--priorities the fixes ranked by fleet time recovered. No scripts, no network."""

from __future__ import annotations

from html import escape
from typing import Any

import polars as pl

from trainperf.report.html_common import colour, legend, page, table
from trainperf.report.units import pct, seconds


def _mfu_bars(df: pl.DataFrame, width: int = 520, row: int = 18) -> str:
    """One bar per (workload, GPU): length = MFU, colour = the top category of its step."""
    ok = df.filter(pl.col("status") == "ok")
    label_w = 260
    out = [f'<svg class="chart mfu" width="{label_w + width + 60}" height="{row * ok.height + 24}">']
    for i, r in enumerate(ok.iter_rows(named=True)):
        y = 4 + i * row
        w = width * min(max(r["mfu"] or 0.0, 0.0), 1.0)
        c = colour(r["top_category"])
        name = f"{r['workload']} ({r['gpu']})"
        out.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>'
                   f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 4}" fill="{c}"><title>'
                   f'{escape(name)}: MFU {pct(r["mfu"] or 0)}, {escape(str(r["top_category"]))} '
                   f'{pct(r["top_category_share"] or 0)} of the step</title></rect>'
                   f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{pct(r["mfu"] or 0)}</text>')
    for f in (0.25, 0.5, 0.75, 1.0):
        x = label_w + width * f
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{row * ok.height + 4}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{row * ok.height + 18}" text-anchor="middle">{f:.0%}</text>')
    return "".join(out) + "</svg>" + legend(sorted({c for c in ok["top_category"].to_list() if c}))


def _table(df: pl.DataFrame, cols: dict[str, str]) -> str:
    def cell(k: str, v: Any) -> str:
        return ("-" if v is None else pct(v) if k in ("mfu", "top_category_share", "fleet_share")
                else seconds(v) if k == "step_time_s" else f"{v:.1f}" if isinstance(v, float) else str(v))

    return table(list(cols.values()), ([cell(k, r[k]) for k in cols] for r in df.iter_rows(named=True)))


def render_fleet_html(df: pl.DataFrame, ranked: pl.DataFrame | None = None,
                      overlap: tuple[float, float] | None = None) -> str:
    """A FLEET_SCHEMA table (and fleet priorities) as one HTML page."""
    body = [f"<h1>trainperf fleet: {df['workload'].n_unique()} workloads on {', '.join(df['gpu'].unique(maintain_order=True).to_list())}</h1>",
            "<h2>MFU, lowest first; colour: what dominates the step</h2>", _mfu_bars(df),
            _table(df, {"workload": "workload", "gpu": "GPU", "status": "status", "step_time_s": "step",
                        "mfu": "MFU", "top_category": "top category", "top_category_share": "share",
                        "top_category_bound_by": "bound by", "host_bound": "host-bound",
                        "peak_mem_gib": "peak GiB", "fits": "fits", "reason": "reason"})]
    if ranked is not None:
        body += ["<h2>Priorities: fixes ranked by fleet time recovered</h2>",
                 _table(ranked, {"fix": "fix", "what": "what", "fleet_share": "fleet time recovered",
                                 "workloads": "workloads > 1%", "top_workloads": "helps most"})]
        if overlap is not None:
            together, alone = overlap
            body.append(f"<p class='dim'>all fixes together recover {pct(together)} of fleet time; alone they add "
                        f"up to {pct(alone)}: {pct(max(alone - together, 0.0))} is claimed by more than one fix</p>")
    return page("trainperf fleet", body)
