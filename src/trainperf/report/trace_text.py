"""Terminal and JSON rendering of `trainperf analyze` and of a trace comparison: a summary a person can act
on in a minute, opportunities first.

Rendered from the JSON form (``TraceAnalysis.to_dict()``, or the same dict from the small-trace path in
trace/quick/), in plain Python: no polars, no rich, so a small trace's report starts fast. Each table has
one time unit, chosen from its largest value and named in its title, and says whether its times are per
step (ProfilerStep spans; mean over steps and ranks) or over the whole trace.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_UNITS = (("s", 1e9), ("ms", 1e6), ("us", 1e3), ("ns", 1.0))


def unit_of(values: Iterable[float | None]) -> tuple[str, float]:
    """The largest unit in which the largest |value| (ns) is at least 1."""
    top = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    return next(((u, s) for u, s in _UNITS if top >= s), ("us", 1e3))


def num(ns: float | None, scale: float) -> str:
    """A time in the table's unit: two decimals (three significant digits below 0.1); signed as it is."""
    if ns is None or not math.isfinite(ns):
        return "-"
    x = ns / scale
    if x == 0:
        return "0"
    return f"{x:,.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


def pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _short(name: Any, n: int = 70) -> str:
    s = "(no name)" if name is None else str(name)
    return s if len(s) <= n else s[: n - 1] + "…"


def table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Plain aligned columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    if not rows:
        return ""
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w[i]) if i < left else c.rjust(w[i]) for i, c in enumerate(cells)).rstrip()

    return "\n".join([title, line(head), "  ".join("-" * x for x in w), *(line(r) for r in rows)]) + "\n"


def _json(obj: Any, out: TextIO) -> None:
    import orjson

    out.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return sum(float(r[key] or 0) for r in rows) / len(rows) if rows else 0.0


def _steps(temporal: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The per-step rows (or the whole-trace rows when the trace has no ProfilerStep spans) and the label."""
    steps = [r for r in temporal if r["step"] >= 0]
    return (steps, "per step") if steps else ([r for r in temporal if r["step"] < 0], "whole trace")


def render_analysis(a: Any, *, json_out: bool = False, top: int = 10, out: TextIO | None = None) -> None:
    """Print an analysis (a TraceAnalysis or its to_dict()): header, warnings, what to fix first, temporal
    breakdown, categories, top kernels, collectives, speed of light and the host side."""
    d = a if isinstance(a, dict) else a.to_dict()
    out = out or sys.stdout
    if json_out:
        _json(d, out)
        return
    out.write(analysis_text(d, top=top))


def analysis_text(d: dict[str, Any], *, top: int = 10) -> str:
    t = d["tables"]
    gpu = f" -> SOL vs {d['gpu']}" if d.get("gpu") else ""
    parts = [f"{d['source']}: {len(d['ranks'])} rank(s), {d['events']:,} events, {d.get('device') or 'no GPU named'}"
             f"{gpu}\n" + "".join(f"warning: {w}\n" for w in d["warnings"])]
    if t["temporal"]:
        parts += _gpu_sections(d, top)
    parts += _host_sections(t, top)
    return "\n".join(p for p in parts if p)


def _gpu_sections(d: dict[str, Any], top: int) -> list[str]:
    t = d["tables"]
    rows, per = _steps(t["temporal"])
    step_ns = _mean(rows, "window")
    u, sc = unit_of([step_ns])
    n_steps = len({r["step"] for r in rows}) if per == "per step" else 0
    n_ranks = len({r["rank"] for r in rows})
    out = [f"GPU step time {num(step_ns, sc)} {u} (mean over {n_steps} ProfilerStep(s) x {n_ranks} rank(s))\n"
           if n_steps else f"GPU window {num(step_ns, sc)} {u} (no ProfilerStep spans: whole trace)\n"]
    opp = t["opportunities"]
    u, sc = unit_of([r["alone_ns"] for r in opp])
    total = sum(r["recover_ns"] for r in opp)
    lines = [f"What to fix first ({u}, recoverable GPU time {per}; upper bounds, time two items share counted "
             f"once: {num(total, sc)} {u} in all, {pct(total / step_ns if step_ns else 0)} of the step)"]
    if not opp:
        lines.append("  nothing above 0.5% of the step")
    rank_of = {r["kind"]: i for i, r in enumerate(opp, 1)}
    for i, r in enumerate(opp, 1):
        shared = (f"; {num(r['alone_ns'], sc)} {u} alone, shares {r['part']} time with item "
                  f"{rank_of.get(r['overlaps'], '?')}" if r.get("overlaps") else "")
        lines += [f"{i}. {r['title']}: {num(r['recover_ns'], sc)} {u} ({pct(r['recover_frac'])}){shared}",
                  f"   evidence: {r['evidence']}", f"   action: {r['action']}"]
    out.append("\n".join(lines) + "\n")
    out += [_temporal(rows, per), _categories(t["kernels"], per), _top_kernels(t["top_kernels"], top),
            _collectives(t["collectives"]), _sol(d, top)]
    return out


def _temporal(rows: list[dict[str, Any]], per: str) -> str:
    cols = ["compute", "communication", "copy", "idle"]
    by: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["rank"], []).append(r)
    agg = [{"rank": k, **{c: _mean(v, c) for c in ["window", *cols, "idle_host", "idle_sync", "idle_other"]}}
           for k, v in sorted(by.items())][:16]
    u, sc = unit_of(r["window"] for r in agg)

    def frac(r: dict[str, Any], c: str) -> str:
        return pct(r[c] / r["window"] if r["window"] else 0)

    body = [[str(r["rank"]), num(r["window"], sc), *(f"{num(r[c], sc)} {frac(r, c)}" for c in cols),
             " / ".join(frac(r, c) for c in ("idle_host", "idle_sync", "idle_other"))] for r in agg]
    return table(f"Temporal breakdown ({u}, {per}, mean over {'steps' if per == 'per step' else 'the trace'})",
                 ["rank", "window", "compute", "comm", "copy", "idle", "idle: host / sync / other"], body, left=0)


def _categories(kernels: list[dict[str, Any]], per: str) -> str:
    cats: dict[str, list[float]] = {}
    ranks = {r["rank"] for r in kernels} or {0}
    for r in kernels:
        c = cats.setdefault(r["category"], [0.0, 0.0, 0.0])
        c[0] += r["count_per_step"] / len(ranks)
        c[1] += r["time_per_step_ns"] / len(ranks)
        c[2] += r["time_ns"]
    tot = sum(c[2] for c in cats.values()) or 1.0
    u, sc = unit_of(c[1] for c in cats.values())
    body = [[k, f"{c[0]:,.1f}", num(c[1], sc), pct(c[2] / tot)]
            for k, c in sorted(cats.items(), key=lambda kv: (-kv[1][2], kv[0]))]
    return table(f"GPU kernel time by category ({u}, {per}, mean over ranks)", ["category", "kernels", "time", "share"],
                 body)


def _top_kernels(rows: list[dict[str, Any]], top: int) -> str:
    rows = rows[:top]
    u, sc = unit_of(r["time_ns"] for r in rows)
    body = [[_short(r["name"]), str(r["category"]), f"{r['count']:,}", num(r["time_ns"], sc), num(r["mean_ns"], sc),
             pct(r["share"])] for r in rows]
    return table(f"Top {top} kernels ({u}, whole trace, all ranks)", ["kernel", "category", "calls", "total", "mean",
                                                                       "share"], body, left=2)


def _collectives(rows: list[dict[str, Any]]) -> str:
    rows = rows[:16]
    u, sc = unit_of(r["time_ns"] for r in rows)
    body = [[str(r["rank"]), r["kind"], str(r["count"]), num(r["time_ns"], sc),
             "-" if r["mean_msg_bytes"] is None else f"{r['mean_msg_bytes'] / 1e6:.2f}",
             "-" if r["algbw_GBps"] is None else f"{r['algbw_GBps']:.1f}",
             "-" if r["busbw_GBps"] is None else f"{r['busbw_GBps']:.1f}", pct(r.get("overlap"))] for r in rows]
    return table(f"Collectives ({u}, whole trace; overlap: the share of each kind's own time under compute)",
                 ["rank", "kind", "calls", "time", "mean msg MB", "algbw GB/s", "busbw GB/s", "overlap"], body, left=0)


def _by(rows: list[dict[str, Any]], key: tuple[str, ...], sums: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows merged over ranks: ``sums`` added up per ``key``, the other fields of the first row kept."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        if k in out:
            for c in sums:
                out[k][c] = (out[k][c] or 0) + (r[c] or 0)
        else:
            out[k] = dict(r)
    return list(out.values())


def _sol(d: dict[str, Any], top: int) -> str:
    s = d["sol_summary"]
    if "sol_ns" not in s:
        return ""
    rows = _by([r for r in d["tables"]["sol"] if r["covered"]], ("op", "shapes"), ("calls", "time_ns", "sol_ns"))
    if not rows:
        return ""
    total = s["op_kernel_ns"] or 1.0
    why = ", ".join(f"{k[len('unpriced_'):-3].replace('_', ' ')} {pct(v / total)}" for k, v in s.items()
                    if k.startswith("unpriced_") and v)
    rows = sorted(rows, key=lambda r: (-r["time_ns"], r["op"], r["shapes"] or ""))[:top]
    u, sc = unit_of(r["time_ns"] for r in rows)
    body = [[_short(r["op"], 50), str(r["calls"]), num(r["time_ns"], sc), num(r["sol_ns"], sc),
             pct(r["sol_ns"] / r["time_ns"] if r["time_ns"] else None),
             f"{r['flops'] * r['calls'] / r['time_ns'] / 1e3:.1f}" if r["time_ns"] else "-",
             f"{r['bytes'] * r['calls'] / r['time_ns']:.0f}" if r["time_ns"] else "-", r["bound_by"] or "-"]
            for r in rows]
    return table(f"Speed of light ({u}, whole trace, all ranks; ops with shapes: {pct(s['covered_frac'])} of op "
                 f"kernel time priced{'; unpriced: ' + why if why else ''}; priced ops run at "
                 f"{pct(s.get('sol_frac'))} of SOL)", ["op", "calls", "time", "SOL", "% SOL", "TFLOP/s", "GB/s",
                                                       "bound by"], body)


def _host_sections(t: dict[str, Any], top: int) -> list[str]:
    hs = t.get("host") or []
    if not hs:
        return []
    per = "per step" if all(r["steps"] for r in hs) else "whole trace"
    u, sc = unit_of(r["window_ns"] for r in hs)
    body = [[str(r["rank"]), num(r["window_ns"], sc), f"{r['ops_per_step']:,.0f}",
             f"{num(r['in_ops_ns'], sc)} {pct(r['in_ops_ns'] / r['window_ns'] if r['window_ns'] else 0)}",
             f"{num(r['outside_ops_ns'], sc)} {pct(r['outside_ops_ns'] / r['window_ns'] if r['window_ns'] else 0)}",
             f"{(r['op_self_median_ns'] or 0) / 1e3:.1f}", f"{r['launch_calls_per_step']:,.0f}",
             num(r["launch_ns_per_step"], sc)] for r in hs[:16]]
    out = [table(f"Host (CPU) time ({u}, {per}): in ops = the busiest thread inside top-level ops; outside = "
                 "Python and framework code between them", ["rank", "window", "ops", "in ops", "outside ops",
                                                            "median op self us", "launches", "launch time"],
                 body, left=0)]
    n = len(hs)
    ops = _by([{**r, "total_per_step_ns": r["total_ns"] / max(1, r["steps"])} for r in t.get("host_ops") or []],
              ("name",), ("calls_per_step", "self_per_step_ns", "total_per_step_ns"))
    every = sum(r["self_per_step_ns"] for r in ops) or 1.0
    ops = sorted(ops, key=lambda r: (-r["self_per_step_ns"], str(r["name"])))[:top]
    u, sc = unit_of(r["self_per_step_ns"] / n for r in ops)
    out.append(table(f"Host time by op ({u}, {per}, mean over ranks; self = without the ops nested inside)",
                     ["op", "calls", "self", "total", "share"],
                     [[_short(r["name"], 50), f"{r['calls_per_step'] / n:,.1f}", num(r["self_per_step_ns"] / n, sc),
                       num(r["total_per_step_ns"] / n, sc), pct(r["self_per_step_ns"] / every)] for r in ops]))
    return out


def render_comparison(c: Any, *, json_out: bool = False, top: int = 15, out: TextIO | None = None) -> None:
    """Print a TraceComparison (or its to_dict()): per-step parts, categories and the kernels that changed most."""
    d = c if isinstance(c, dict) else c.to_dict()
    out = out or sys.stdout
    if json_out:
        _json(d, out)
        return
    parts = [f"A {d['a']}\nB {d['b']}\n"]
    for title, key, name in (("Per step", "temporal", "part"), ("Per rank, largest change first", "ranks", "part"),
                             ("Kernel time per step by category", "categories", "category"),
                             ("Kernels that changed most (per step)", "kernels", "name")):
        rows = d["tables"].get(key, [])[:top]
        u, sc = unit_of(v for r in rows for v in (r["a_ns"], r["b_ns"], r["delta_ns"]))
        body = [[_short(r[name]), num(r["a_ns"], sc), num(r["b_ns"], sc), num(r["delta_ns"], sc),
                 "-" if r["delta_frac"] is None else f"{r['delta_frac']:+.1%}"] for r in rows]
        scope = "mean per step" if key == "ranks" else "mean per step over ranks"
        parts.append(table(f"{title} ({u}, {scope})", [name, "A", "B", "B - A", "change"], body))
    out.write("\n".join(p for p in parts if p))
