"""One self-contained HTML page for `trainperf predict --html`: the headline, the step by category as a
stacked bar, the predicted step as a zoomable host/GPU timeline (a tooltip per block), a roofline of the
predicted ops with decade ticks, and the category and top-op tables. No scripts, no network: it opens
offline in any browser."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import polars as pl

from trainperf.report.html_common import colour, legend, page, table, timeline
from trainperf.report.plan_html import _bar
from trainperf.report.svg import Point, roofline
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
                  colour=colour(r["category"]),
                  title=f"{r['op']} x{r['calls']} [{r['shapes'][:80]}]: {seconds(r['time_s'])}, {r['bound_by']}-bound")
            for r in g.iter_rows(named=True)]


def timeline_html(est: Any) -> str:
    """The step as the model lays it out (model/efficiency.py gpu_timeline): one host thread issuing the ops
    in order (the host time of view ops, which have no rows, spread evenly as model/step.py does), one GPU
    stream running each op's kernels once it is issued and the previous op is done."""
    from trainperf.model.efficiency import gpu_timeline

    ops = est.ops
    if ops.height == 0:
        return "<p class='dim'>no ops</p>"
    host = ops["host_time_s"].to_numpy() + max(est.host_s - float(ops["host_time_s"].sum()), 0.0) / ops.height
    gpu = ops["gpu_time_s"].to_numpy()
    host_end, gpu_end = np.cumsum(host), gpu_timeline(host, gpu)
    name = ops.select(pl.format("{} [{}]", "op", pl.col("module").fill_null(""))).to_series()
    iv = pl.concat([pl.DataFrame({"lane": 0, "s": host_end - host, "e": host_end, "cat": ops["category"], "name": name}),
                    pl.DataFrame({"lane": 1, "s": gpu_end - gpu, "e": gpu_end, "cat": ops["category"], "name": name})])
    return timeline("step", ["host (issue)", "GPU"], iv.filter(pl.col("e") > pl.col("s")),
                    max(est.step_time_s, float(gpu_end[-1])), what="ops")


def render_predict_html(est: Any, *, top: int = 25, gpu: Any = None) -> str:
    """A StepEstimate as one HTML page (``gpu``: its GPUSpec, for the roofline's roofs)."""
    c, m = est.config, est.memory
    cats = est.categories
    parts = [(r["category"], r["time_s"], r["category"]) for r in cats.iter_rows(named=True)]
    fit = "fits" if m.fits else "<span class='warn'>does not fit</span>"
    body = [f"<h1>{escape(est.workload)} on {escape(est.gpu)}, {escape(str(c.precision))}, {escape(c.mode)}</h1>",
            f"<p><b>step {seconds(est.step_time_s)}</b> · {si(est.throughput)} {escape(est.unit)}s/s · MFU "
            f"{pct(est.mfu)} against {escape(est.peak_name)} · GPU busy {seconds(est.gpu_busy_s)}, host issue "
            f"{seconds(est.host_s)}{' (host-bound)' if est.host_bound else ''}</p>",
            f"<p>peak memory {gib(m.total)} of {gib(m.capacity)} usable: {fit}</p>",
            "<h2>Where the step goes</h2>", _bar(parts, sum(v for _, v, _ in parts), seconds)]
    body.append(table(["category", "time", "share", "SOL", "SOL %", "bound by", "kernels", "FLOPs", "bytes"],
                      [[r["category"], seconds(r["time_s"]), pct(r["share"]), seconds(r["sol_time_s"]),
                        f"{r['sol_pct']:.0f}%", r["bound_by"], f"{r['kernels']:.0f}", si(r["flops"]),
                        si(r["bytes"], "B")] for r in cats.iter_rows(named=True)]))
    body += ["<h2>Timeline of the predicted step</h2>", timeline_html(est)]
    points = _points(est.ops)
    body.append("<h2>Roofline of the predicted ops</h2>")
    if points and gpu is not None:
        roofs: dict[float, list[str]] = {}
        for d in ("fp32", "tf32", "bf16", "fp16", "fp8"):
            if gpu.has_precision(d):
                roofs.setdefault(gpu.peak_tflops(d), []).append(d)
        body.append(roofline(points, {p: "/".join(n) for p, n in roofs.items()}, gpu.hbm_bw_GBps / 1e3)
                    + legend(sorted({r["category"] for r in cats.iter_rows(named=True)})))
        body.append(f"<p class='dim'>one point per op and shapes (the {MAX_POINTS} with the most time), area ~ "
                    "time, rate over the ops' kernel time; dashed: HBM bandwidth and the dense peaks</p>")
    else:
        body.append("<p class='dim'>no op with FLOPs and bytes to place on a roofline</p>")
    top_ops = est.ops.sort(["time_s", "idx"], descending=[True, False]).head(top)
    body.append(f"<h2>Top {top} ops by time</h2>")
    body.append(table(["idx", "op", "phase", "module", "time", "SOL %", "bound by"],
                      [[str(r["idx"]), r["op"], r["phase"], r["module"], seconds(r["time_s"]),
                        f"{100 * r['sol_time_s'] / r['time_s'] if r['time_s'] else 0:.0f}%", r["bound_by"]]
                       for r in top_ops.iter_rows(named=True)]))
    for w in est.warnings:
        body.append(f"<p class='warn'>warning: {escape(w)}</p>")
    return page(f"trainperf predict: {est.workload}", body)
