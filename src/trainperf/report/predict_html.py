"""One self-contained HTML page for `trainperf predict --html`: the headline, the step by category as a
stacked bar, a roofline of the predicted ops with decade ticks, and the category and top-op tables.
No scripts, no network: it opens offline in any browser."""

from __future__ import annotations

from html import escape
from typing import Any

import polars as pl

from trainperf.report.plan_html import _bar
from trainperf.report.svg import Point, roofline
from trainperf.report.trace_html import COLORS, CSS, _legend
from trainperf.report.units import gib, pct, seconds, si

MAX_POINTS = 400
"""Roofline points: the op groups with the most predicted time (a 20k-op step stays readable)."""


def _points(ops: pl.DataFrame) -> list[Point]:
    """One point per (op, shapes) group of ops with FLOPs and bytes: FLOP/byte vs predicted TFLOP/s over
    their kernel time."""
    g = (ops.filter((pl.col("flops") > 0) & (pl.col("kernel_s") > 0))
         .with_columns(nbytes=pl.col("bytes_read") + pl.col("bytes_written"), shapes=pl.col("input_shapes")
                       .cast(pl.List(pl.List(pl.Utf8))).list.eval(pl.element().list.join("x")).list.join(", "))
         .filter(pl.col("nbytes") > 0)
         .group_by("op", "category", "shapes")
         .agg(pl.len().alias("calls"), pl.col("flops").sum(), pl.col("nbytes").sum(), pl.col("kernel_s").sum(),
              pl.col("time_s").sum(), pl.col("bound_by").first())
         .sort(["time_s", "op", "shapes"], descending=[True, False, False]).head(MAX_POINTS))
    return [Point(intensity=r["flops"] / r["nbytes"], tflops=r["flops"] / r["kernel_s"] / 1e12, weight=r["time_s"],
                  colour=COLORS.get(r["category"], "#999"),
                  title=f"{r['op']} x{r['calls']} [{r['shapes'][:80]}]: {seconds(r['time_s'])}, {r['bound_by']}-bound")
            for r in g.iter_rows(named=True)]


def _table(rows: list[list[str]], head: list[str]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def render_predict_html(est: Any, *, top: int = 25, gpu: Any = None) -> str:
    """A StepEstimate as one HTML page (``gpu``: its GPUSpec, for the roofline's roofs)."""
    c, m = est.config, est.memory
    cats = est.categories
    parts = [(r["category"], r["time_s"], COLORS.get(r["category"], "#999")) for r in cats.iter_rows(named=True)]
    fit = "fits" if m.fits else "<span class='warn'>does not fit</span>"
    body = [f"<h1>{escape(est.workload)} on {escape(est.gpu)}, {escape(str(c.precision))}, {escape(c.mode)}</h1>",
            f"<p><b>step {seconds(est.step_time_s)}</b> · {si(est.throughput)} {escape(est.unit)}s/s · MFU "
            f"{pct(est.mfu)} against {escape(est.peak_name)} · GPU busy {seconds(est.gpu_busy_s)}, host issue "
            f"{seconds(est.host_s)}{' (host-bound)' if est.host_bound else ''}</p>",
            f"<p>peak memory {gib(m.total)} of {gib(m.capacity)} usable: {fit}</p>",
            "<h2>Where the step goes</h2>", _bar(parts, sum(v for _, v, _ in parts), "{:.4g} s")]
    body.append(_table([[r["category"], seconds(r["time_s"]), pct(r["share"]), seconds(r["sol_time_s"]),
                         f"{r['sol_pct']:.0f}%", r["bound_by"], f"{r['kernels']:.0f}", si(r["flops"]),
                         si(r["bytes"], "B")] for r in cats.iter_rows(named=True)],
                       ["category", "time", "share", "SOL", "SOL %", "bound by", "kernels", "FLOPs", "bytes"]))
    points = _points(est.ops)
    body.append("<h2>Roofline of the predicted ops</h2>")
    if points and gpu is not None:
        roofs: dict[float, list[str]] = {}
        for d in ("fp32", "tf32", "bf16", "fp16", "fp8"):
            if gpu.has_precision(d):
                roofs.setdefault(gpu.peak_tflops(d), []).append(d)
        body.append(roofline(points, {p: "/".join(n) for p, n in roofs.items()}, gpu.hbm_bw_GBps / 1e3)
                    + _legend(sorted({r["category"] for r in cats.iter_rows(named=True)})))
        body.append(f"<p class='dim'>one point per op and shapes (the {MAX_POINTS} with the most time), area ~ "
                    "time, rate over the ops' kernel time; dashed: HBM bandwidth and the dense peaks</p>")
    else:
        body.append("<p class='dim'>no op with FLOPs and bytes to place on a roofline</p>")
    top_ops = est.ops.sort(["time_s", "idx"], descending=[True, False]).head(top)
    body.append(f"<h2>Top {top} ops by time</h2>")
    body.append(_table([[str(r["idx"]), r["op"], r["phase"], r["module"], seconds(r["time_s"]),
                         f"{100 * r['sol_time_s'] / r['time_s'] if r['time_s'] else 0:.0f}%", r["bound_by"]]
                        for r in top_ops.iter_rows(named=True)],
                       ["idx", "op", "phase", "module", "time", "SOL %", "bound by"]))
    for w in est.warnings:
        body.append(f"<p class='warn'>warning: {escape(w)}</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>trainperf predict: {escape(est.workload)}"
            f"</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")
