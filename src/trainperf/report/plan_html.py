"""One self-contained HTML page for `trainperf plan --html` (one layout, or a --search): the headline
numbers, where the step goes and where the memory goes as inline SVG bars, the tables, and the
suggestion. No scripts, no network: it opens offline in any browser."""

from __future__ import annotations

from html import escape
from typing import Any

from trainperf.report.trace_html import COLORS, CSS
from trainperf.report.units import gib, pct, seconds

_EXTRA = {"bubble": "#d3d3d3", "optimizer": "#e45756", "overhead": "#bab0ac", "recompute": "#9ecae9"}
_MEM = {"params": "#4c78a8", "grads": "#72b7b2", "optimizer": "#e45756", "activations": "#f58518",
        "comm_buffers": "#b279a2", "workspace": "#bab0ac"}


def _bar(parts: list[tuple[str, float, str]], total: float, label: str, width: int = 900) -> str:
    """One stacked bar of (name, value, colour) scaled to ``total``, with a legend; values as titles."""
    out = [f'<svg width="{width + 10}" height="34" xmlns="http://www.w3.org/2000/svg">']
    x = 0.0
    for name, v, colour in parts:
        w = width * v / total if total > 0 else 0.0
        out.append(f'<rect x="{x:.1f}" y="4" width="{max(w, 0):.1f}" height="22" fill="{colour}">'
                   f'<title>{escape(name)}: {escape(label.format(v))} ({pct(v / total if total else 0)})</title></rect>')
        x += w
    out.append("</svg>")
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{escape(n)} {escape(label.format(v))}</span>'
                     for n, v, c in parts)
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _step_parts(est: Any) -> list[tuple[str, float, str]]:
    parts = [(f"compute: {k}", v, COLORS.get(k, _EXTRA.get(k, "#999")))
             for k, v in sorted(est.compute_s.items(), key=lambda kv: -kv[1]) if v > 0]
    parts += [(f"exposed {k}", v, "#f58518") for k, v in sorted(est.exposed_comm_s.items(), key=lambda kv: -kv[1])]
    parts += [(k, v, _EXTRA[k]) for k, v in (("bubble", est.bubble_s), ("optimizer", est.optimizer_s),
                                             ("overhead", est.overhead_s)) if v > 0]
    return parts


def render_plan_html(est: Any, *, suggestion: Any = None) -> str:
    """A PlanEstimate (or Infeasible) as one HTML page."""
    from trainperf.parallel.estimate import Infeasible

    head = f"<!doctype html><html><head><meta charset='utf-8'><title>trainperf plan</title><style>{CSS}</style></head><body>"
    if isinstance(est, Infeasible):
        page = f"<h1>trainperf plan: infeasible</h1><p class='warn'>{escape(est.reason)}</p>"
        if est.memory is not None:
            page += "<h2>Memory per GPU</h2>" + _bar([(k, v / 2**30, _MEM[k]) for k, v in est.memory.as_dict().items()
                                                      if k != "total"], est.memory.total / 2**30, "{:.1f} GiB")
        return head + page + _suggestion(suggestion) + "</body></html>"
    p = est.plan
    parts = _step_parts(est)
    mem = [(k, v / 2**30, _MEM[k]) for k, v in est.memory.as_dict().items() if k != "total"]
    body = [f"<h1>{escape(est.arch)} on {p.gpus:,} × {escape(est.gpu)} ({escape(est.cluster)})</h1>",
            f"<p>{escape(p.describe())}</p>",
            f"<p><b>step {seconds(est.step_time_s)}</b> · {est.tokens_per_s_per_gpu:,.0f} tokens/s/GPU · "
            f"{est.model_tflops_per_gpu:.0f} model TFLOP/s/GPU · MFU {pct(est.mfu)} of {est.peak_tflops:.0f} "
            f"TFLOP/s {escape(p.precision)} peak</p>",
            "<h2>Where the step goes (busiest pipeline rank; compute summed over micro-batches)</h2>",
            _bar([(n, v, c) for n, v, c in parts], sum(v for _, v, _ in parts), "{:.4g} s"),
            "<h2>Memory per GPU (busiest pipeline rank)</h2>",
            _bar(mem, est.memory.total / 2**30, "{:.1f} GiB"),
            "<table><tr><th>part</th><th>size</th></tr>"
            + "".join(f"<tr><td>{escape(k)}</td><td>{gib(v)}</td></tr>" for k, v in est.memory.as_dict().items())
            + "</table>"]
    return head + "".join(body) + _suggestion(suggestion) + "</body></html>"


def _suggestion(sug: Any) -> str:
    if sug is None:
        return ""
    e = sug.estimate
    gain = "fits" if sug.gain == float("inf") else f"{sug.gain:+.0%} tokens/s/GPU"
    return (f"<h2>Better neighbour</h2><p>{escape(sug.changed)}: {escape(e.plan.describe())} "
            f"({e.tokens_per_s_per_gpu:,.0f} tokens/s/GPU, {gain})</p>")


def render_search_html(res: Any) -> str:
    """A layout search (optimize.search.SearchResult): the best layout's page plus the top-K table and the
    infeasible counts."""
    best = res.best
    page = render_plan_html(best) if best is not None else (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
        "<h1>trainperf plan --search: no layout fits</h1></body></html>")
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{escape(e.plan.describe())}</td><td>{e.tokens_per_s_per_gpu:,.0f}</td>"
        f"<td>{seconds(e.step_time_s)}</td><td>{pct(e.mfu)}</td><td>{gib(e.memory.total)}</td></tr>"
        for i, e in enumerate(res.top))
    inf = "".join(f"<tr><td>{escape(k)}</td><td>{v:,}</td></tr>"
                  for k, v in sorted(res.infeasible.items(), key=lambda kv: -kv[1]))
    extra = (f"<h2>Top {len(res.top)} of {res.evaluated:,} layouts ({res.feasible:,} fit)</h2><table><tr><th>#</th>"
             f"<th>layout</th><th>tokens/s/GPU</th><th>step</th><th>MFU</th><th>memory</th></tr>{rows}</table>"
             f"<h2>Infeasible, by reason</h2><table><tr><th>reason</th><th>layouts</th></tr>{inf}</table>")
    return page.replace("</body></html>", extra + "</body></html>")
