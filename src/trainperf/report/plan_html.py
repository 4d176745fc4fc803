"""One self-contained HTML page for `trainperf plan --html` (one layout, or a --search): the headline
numbers, where the step goes and where the memory goes as inline SVG bars, the tables, and the
suggestion. No scripts, no network: it opens offline in any browser."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from trainperf.report.html_common import Part, bars, page, table
from trainperf.report.units import gib, pct, seconds


def _bar(parts: list[Part], total: float, fmt: Callable[[float], str]) -> str:
    return bars([("", total, parts)], fmt)


def _gib(v: float) -> str:
    return f"{v:.1f} GiB"


def _step_parts(est: Any) -> list[Part]:
    """Compute by category, exposed communication by collective (all in the communication colour), then
    bubble, optimizer and overhead."""
    parts = [(f"compute: {k}", v, k) for k, v in sorted(est.compute_s.items(), key=lambda kv: -kv[1]) if v > 0]
    parts += [(f"exposed {k}", v, "communication") for k, v in sorted(est.exposed_comm_s.items(), key=lambda kv: -kv[1])]
    parts += [(k, v, k) for k, v in (("bubble", est.bubble_s), ("optimizer", est.optimizer_s),
                                     ("overhead", est.overhead_s)) if v > 0]
    return parts


def _memory(mem: Any) -> str:
    return _bar([(k, v / 2**30, k) for k, v in mem.as_dict().items() if k != "total"], mem.total / 2**30, _gib)


def render_plan_html(est: Any, *, suggestion: Any = None) -> str:
    """A PlanEstimate (or Infeasible) as one HTML page."""
    from trainperf.parallel.estimate import Infeasible

    if isinstance(est, Infeasible):
        why = f"<h1>trainperf plan: infeasible</h1><p class='warn'>{escape(est.reason)}</p>"
        if est.memory is not None:
            why += "<h2>Memory per GPU</h2>" + _memory(est.memory)
        return page("trainperf plan", why + _suggestion(suggestion))
    p = est.plan
    parts = _step_parts(est)
    body = [f"<h1>{escape(est.arch)} on {p.gpus:,} × {escape(est.gpu)} ({escape(est.cluster)})</h1>",
            f"<p>{escape(p.describe())}</p>",
            f"<p><b>step {seconds(est.step_time_s)}</b> · {est.tokens_per_s_per_gpu:,.0f} tokens/s/GPU · "
            f"{est.model_tflops_per_gpu:.0f} model TFLOP/s/GPU · MFU {pct(est.mfu)} of {est.peak_tflops:.0f} "
            f"TFLOP/s {escape(p.precision)} peak</p>",
            "<h2>Where the step goes (busiest pipeline rank; compute summed over micro-batches)</h2>",
            _bar(parts, sum(v for _, v, _ in parts), seconds),
            "<h2>Memory per GPU (busiest pipeline rank)</h2>", _memory(est.memory),
            table(["part", "size"], [(k, gib(v)) for k, v in est.memory.as_dict().items()])]
    return page("trainperf plan", [*body, _suggestion(suggestion)])


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
    first = render_plan_html(best) if best is not None else page(
        "trainperf plan --search", "<h1>trainperf plan --search: no layout fits</h1>")
    extra = (f"<h2>Top {len(res.top)} of {res.evaluated:,} layouts ({res.feasible:,} fit)</h2>"
             + table(["#", "layout", "tokens/s/GPU", "step", "MFU", "memory"],
                     [(i + 1, e.plan.describe(), f"{e.tokens_per_s_per_gpu:,.0f}", seconds(e.step_time_s), pct(e.mfu),
                       gib(e.memory.total)) for i, e in enumerate(res.top)])
             + "<h2>Infeasible, by reason</h2>"
             + table(["reason", "layouts"], [(k, f"{v:,}") for k, v in sorted(res.infeasible.items(),
                                                                           key=lambda kv: -kv[1])]))
    return first.replace("</body></html>", extra + "</body></html>")
