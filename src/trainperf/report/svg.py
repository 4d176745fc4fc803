"""Inline SVG charts shared by the HTML reports (no scripts): a log-log roofline with a labelled tick per
decade on both axes; its points' tooltips are SVG ``<title>``s."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Point:
    """One op (or group of ops) on a roofline."""

    intensity: float
    """FLOP per byte moved."""
    tflops: float
    """Achieved (or predicted) TFLOP/s."""
    weight: float
    """Its time: the point's area grows with it."""
    colour: str
    title: str


def _decades(lo: float, hi: float) -> list[float]:
    return [10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            if lo <= 10.0 ** e <= hi]


def _tick(v: float) -> str:
    return f"{v:g}" if 1e-3 <= v < 1e5 else f"1e{round(math.log10(v))}"


def roofline(points: list[Point], roofs: dict[float, str], bw_tbps: float, *, width: int = 700,
             height: int = 420) -> str:
    """Points on log-log axes (FLOP/byte vs TFLOP/s) under the roofs: the memory slope (``bw_tbps`` TB/s)
    meeting each compute peak (TFLOP/s -> its label); a tick and a faint grid line per decade."""
    ymax = max(roofs) * 2
    ymin = max(1e-4, min(p.tflops for p in points) / 2)
    xmin = max(1e-3, min(p.intensity for p in points) / 2)
    xmax = max(1e3, max(p.intensity for p in points) * 2)
    wmax = max(p.weight for p in points) or 1.0
    left, bottom = 56, height - 34

    def x_of(v: float) -> float:
        return left + (math.log10(v) - math.log10(xmin)) / (math.log10(xmax) - math.log10(xmin)) * (width - left - 10)

    def y_of(v: float) -> float:
        return bottom - (math.log10(max(v, ymin)) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * (bottom - 10)

    out = [f'<svg class="chart roofline" width="{width}" height="{height}">']
    for v in _decades(xmin, xmax):
        x = x_of(v)
        out.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{bottom}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{_tick(v)}</text>')
    for v in _decades(ymin, ymax):
        y = y_of(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_tick(v)}</text>')
    out += [f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>',
            f'<line x1="{left}" y1="10" x2="{left}" y2="{bottom}" stroke="#999"/>',
            f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">FLOP / byte</text>',
            '<text x="4" y="10">TFLOP/s</text>']
    for peak in sorted(roofs):
        knee = peak / bw_tbps
        out.append(f'<polyline fill="none" stroke="#888" stroke-dasharray="4 3" points="{x_of(xmin):.1f},'
                   f'{y_of(xmin * bw_tbps):.1f} {x_of(knee):.1f},{y_of(peak):.1f} {x_of(xmax):.1f},{y_of(peak):.1f}"/>'
                   f'<text x="{x_of(xmax) - 4:.1f}" y="{y_of(peak) - 3:.1f}" text-anchor="end">'
                   f'{escape(roofs[peak])} {peak:.0f}</text>')
    for p in points:
        r = 2 + 10 * math.sqrt(p.weight / wmax)
        out.append(f'<circle cx="{x_of(p.intensity):.1f}" cy="{y_of(p.tflops):.1f}" r="{r:.1f}" fill="{p.colour}" '
                   f'fill-opacity="0.6"><title>{escape(p.title)}</title></circle>')
    return "".join(out) + "</svg>"
