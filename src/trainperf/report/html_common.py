"""What every self-contained HTML report (report/*_html.py) shares: the one palette (one colour per category
on every chart of every page), the house CSS, the page frame, tables whose number and time cells never wrap,
stacked bars, and a zoomable timeline. No scripts and no network: zoom is pure CSS (radio buttons widen the
timeline inside a sideways-scrolling box), tooltips are SVG ``<title>``s, so a page opens offline anywhere."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

import polars as pl

from trainperf.report.units import pct, seconds

COLORS = {
    # op and kernel categories (vocab.OpCategory; host_copy: model/ops.py's PCIe copies)
    "matmul": "#4c78a8", "attention": "#72b7b2", "conv": "#9d755d", "norm": "#eeca3b", "elementwise": "#54a24b",
    "reduction": "#b279a2", "embedding": "#ff9da6", "optimizer": "#e45756", "copy": "#b6992d",
    "communication": "#f58518", "other": "#bab0ac", "host_copy": "#d7b5a6",
    # GPU time of a trace step (temporal breakdown)
    "compute": "#393b79", "idle": "#dddddd", "idle_host": "#d37295", "idle_sync": "#7f7f7f", "idle_other": "#c7c7c7",
    # a plan's step and memory parts ("optimizer": the optimizer's step time, and its state in memory)
    "bubble": "#eeeeee", "overhead": "#8c6d31", "recompute": "#9ecae9", "params": "#6b6ecf", "grads": "#9c9ede",
    "activations": "#17becf", "comm_buffers": "#ad494a", "workspace": "#c5b0d5",
}
"""One colour per name, each name's everywhere; names not listed draw as ``other``."""

ZOOMS = (1, 4, 16)
"""Timeline zoom levels (x the page width)."""

_BASE_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}td.n{white-space:nowrap}.warn{color:#a15c00}.opp{margin:10px 0}
.opp b{font-size:15px}.dim{color:#666}.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}svg text{font:11px system-ui,sans-serif}
.tlrow{display:flex}.tlscroll{flex:1;min-width:0;overflow-x:auto}.tlin{position:relative;width:100%}
.timeline rect{stroke-width:1px;vector-effect:non-scaling-stroke}
.timeline line{stroke:#e4e4e4;vector-effect:non-scaling-stroke}.tl label{margin-right:8px}
.tlaxis{position:relative;height:16px;overflow:hidden}.tlaxis span{position:absolute;padding-left:3px;font-size:11px;white-space:nowrap}"""


def _zoom_css() -> str:
    """Zoom level z (its radio button checked) widens the timeline z times and shows its own ticks only;
    level 1's ticks show while no other level is on."""
    on = {z: f".tl .z{z}:checked~.tlrow" for z in ZOOMS[1:]}
    hide = ",".join([*(f".tl .k{z}" for z in on), *(f"{sel} .k{ZOOMS[0]}" for sel in on.values())])
    show = "".join(f"{sel} .k{z}{{display:inline}}{sel} .tlin{{width:{100 * z}%}}" for z, sel in on.items())
    return f"{hide}{{display:none}}{show}"


CSS = (_BASE_CSS + _zoom_css()
       + "".join(f".c-{k}{{fill:{v};stroke:{v}}}" for k, v in COLORS.items()))


def colour(key: str | None) -> str:
    return COLORS.get(key or "other", COLORS["other"])


def _cls(key: str | None) -> str:
    return f"c-{key}" if key in COLORS else "c-other"


def page(title: str, body: str | Iterable[str], *, css: str = "") -> str:
    """A whole page: doctype, the house CSS (+ ``css``), ``body``; it ends with ``</body></html>``."""
    body = body if isinstance(body, str) else "".join(body)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{CSS}{css}</style></head><body>{body}</body></html>")


def legend(keys: Iterable[str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="sw" style="background:{colour(k)}"></i>{escape(k)}</span>' for k in keys) + "</div>"


_NUM = re.compile(r"[-+x]?\d[\d,.]*(e[-+]?\d+)?( ?[A-Za-z%]{1,5})?(/step)?")
"""A number, time, size or share ("1.20 ms", "-3.4%", "10.22 M", "1.2 us/step"): its cell never wraps."""


def table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table of pre-formatted cells (escaped here); number and time cells get class ``n`` (no wrap)."""
    def td(v: object) -> str:
        s = str(v)
        return f"<td class='n'>{escape(s)}</td>" if _NUM.fullmatch(s) else f"<td>{escape(s)}</td>"

    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{th}</tr>" + "".join("<tr>" + "".join(map(td, r)) + "</tr>" for r in rows) + "</table>"


def df_table(df: pl.DataFrame, cols: dict[str, Any]) -> str:
    """A table of ``df``'s rows: header -> the cell's value from the row (a dict)."""
    return table(list(cols), ([f(r) for f in cols.values()] for r in df.iter_rows(named=True)))


Part = tuple[str, float, str]
"""(name, value, palette key) of one segment of a stacked bar."""


def bars(rows: Sequence[tuple[str, float, Sequence[Part]]], fmt: Callable[[float], str], *, width: int = 900) -> str:
    """Stacked bars, one per (label, total, parts), on one scale (the largest total); each segment's tooltip
    gives its value and share of its bar's total. One unlabelled bar gets a legend with values, several a
    legend of names."""
    top = max((t for _, t, _ in rows), default=0.0) or 1.0
    bar, left = 20, (100 if any(lab for lab, _, _ in rows) else 0)
    out = [f'<svg class="chart bars" width="{left + width + 10}" height="{len(rows) * (bar + 4) + 4}">']
    for i, (lab, total, parts) in enumerate(rows):
        y, x = 4 + i * (bar + 4), float(left)
        out.append(f'<text x="0" y="{y + 14}">{escape(lab)}</text>' if lab else "")
        for name, v, key in parts:
            w = width * max(v, 0.0) / top
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour(key)}"><title>'
                       f'{escape(f"{lab}: " if lab else "")}{escape(name)}: {escape(fmt(v))} '
                       f'({pct(v / total if total else 0)})</title></rect>')
            x += w
    out.append("</svg>")
    if len(rows) == 1 and not rows[0][0]:
        items = "".join(f'<span><i class="sw" style="background:{colour(k)}"></i>{escape(n)} {escape(fmt(v))}</span>'
                        for n, v, k in rows[0][2] if v > 0)
        return "".join(out) + f'<div class="legend">{items}</div>'
    names = dict.fromkeys((n, k) for _, _, parts in rows for n, v, k in parts if v > 0)
    return "".join(out) + '<div class="legend">' + "".join(
        f'<span><i class="sw" style="background:{colour(k)}"></i>{escape(n)}</span>' for n, k in names) + "</div>"


# --- timeline ---------------------------------------------------------------------------------------------

_BLOCK_BUDGET = 20_000
"""Blocks one timeline may draw (~200 bytes each): finer merging while lanes are few, never coarser than a
pixel at 1x."""


def _nice(x: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above ``x``."""
    p = 10.0 ** math.floor(math.log10(x))
    return next(m * p for m in (1, 2, 5, 10) if m * p >= x * (1 - 1e-9))


def _tick_label(v: float, step: float) -> str:
    """``v`` in the unit that writes ``step`` with at most one decimal: 0.2 ms, 50 ms, 1.5 s."""
    unit, div = next((u, d) for u, d in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))
                     if step >= d / 10 or d == 1e-9)
    return "0" if v == 0 else f"{round(v / div, 6):g} {unit}"


def merge_blocks(b: pl.DataFrame, res: float) -> pl.DataFrame:
    """Intervals (lane, s, e, cat, name) -> blocks (lane, s, e, n, busy, cat, name, longest): one interval
    starts a new block after a gap longer than ``res``, or when its category changes in a new ``res``-wide
    slot; so blocks per lane stay under about 2 x span / res. A block takes its longest interval's category."""
    prev_e = pl.col("e").cum_max().shift(1).over("lane")
    slot = (pl.col("s") / res).floor()
    new = ((pl.col("s") > prev_e + res)
           | ((pl.col("cat") != pl.col("cat").shift(1).over("lane")) & (slot != slot.shift(1).over("lane"))))
    return (b.sort("lane", "s").with_columns(_new=new.fill_null(True), d=pl.col("e") - pl.col("s"))
            .with_columns(_blk=pl.col("_new").cum_sum().over("lane"))
            .group_by("lane", "_blk", maintain_order=True)
            .agg(pl.col("s").min(), pl.col("e").max(), n=pl.len(), busy=pl.col("d").sum(),
                 cat=pl.col("cat").sort_by("d").last(), name=pl.col("name").sort_by("d").last(),
                 longest=pl.col("d").max()))


def timeline(key: str, lanes: Sequence[str], iv: pl.DataFrame, span_s: float, *, what: str = "kernels",
             width: int = 1100, lane_h: int = 16) -> str:
    """Intervals (lane: index into ``lanes``, s and e: seconds from 0, cat, name) as a zoomable timeline:
    merged blocks coloured by category, a tooltip each, time ticks with units at every zoom level, and a
    legend. ``key`` makes its zoom controls unique on the page."""
    if iv.height == 0 or span_s <= 0:
        return "<p class='dim'>nothing on the timeline</p>"
    fine = max(1, min(ZOOMS[-1], _BLOCK_BUDGET // (len(lanes) * width)))
    blk = merge_blocks(iv.select("lane", "s", "e", "cat", pl.col("name").fill_null("(no name)")),
                       span_s / (width * fine))
    h = len(lanes) * lane_h + 2

    def x(t: float) -> float:  # the viewBox is 1000 wide whatever the zoom
        return 1000 * t / span_s

    rects = []
    for r in blk.iter_rows(named=True):
        name, lane = escape(str(r["name"])[:100]), escape(lanes[r["lane"]])
        tip = (f"{lane}: {name} ({escape(r['cat'] or 'other')}), {seconds(r['busy'])} at {seconds(r['s'])}"
               if r["n"] == 1 else
               f"{lane}: {r['n']} {what}, {seconds(r['s'])} to {seconds(r['e'])}, {seconds(r['busy'])} busy; "
               f"longest {name} ({escape(r['cat'] or 'other')}, {seconds(r['longest'])})")
        rects.append(f'<rect x="{x(r["s"]):.2f}" y="{r["lane"] * lane_h + 1}" width="{x(r["e"] - r["s"]):.2f}" '
                     f'height="{lane_h - 3}" class="{_cls(r["cat"])}"><title>{tip}</title></rect>')
    grid, labels = [], []
    for z in ZOOMS:
        step = _nice(span_s / (6 * z))
        for i in range(int(span_s / step) + 1):
            t = i * step
            grid.append(f'<line class="k{z}" x1="{x(t):.2f}" x2="{x(t):.2f}" y1="0" y2="{h}"/>')
            labels.append(f'<span class="k{z}" style="left:{100 * t / span_s:.3f}%">{_tick_label(t, step)}</span>')
    controls = "".join(f'<input type="radio" name="tl-{key}" id="tl-{key}-{z}" class="z{z}"'
                       f'{" checked" if z == 1 else ""}><label for="tl-{key}-{z}">{z}×</label>' for z in ZOOMS)
    names = "".join(f'<text x="0" y="{i * lane_h + lane_h - 4}">{escape(n)}</text>' for i, n in enumerate(lanes))
    present = {c if c in COLORS else "other" for c in blk["cat"].to_list()}
    cats = [c for c in COLORS if c in present]
    return (f'<div class="tl" id="tl-{key}">{controls}<span class="dim">zoom, then scroll sideways; hover a block '
            f'for what it holds</span><div class="tlrow">'
            f'<svg width="{6 * max(map(len, lanes)) + 12}" height="{h}">{names}</svg><div class="tlscroll"><div class="tlin"><svg class="chart timeline" viewBox="0 0 1000 {h}" '
            f'preserveAspectRatio="none" width="100%" height="{h}">{"".join(grid)}{"".join(rects)}</svg>'
            f'<div class="tlaxis">{"".join(labels)}</div></div></div></div>{legend(cats)}</div>')
