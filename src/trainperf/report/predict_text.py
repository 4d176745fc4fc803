"""Terminal and JSON rendering of GPU specs (`trainperf hw`), step predictions (`trainperf predict`) and
calibration results (`trainperf calibrate`)."""

from __future__ import annotations

from typing import Any

from trainperf.hardware import GPUSpec
from trainperf.model.calibrate import CalibrationResult
from trainperf.model.step import StepEstimate
from trainperf.report.units import gib, pct, seconds, si
from trainperf.vocab import Precision


def _json(obj: Any) -> None:
    import orjson

    print(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def render_hw_list(gpus: list[GPUSpec], *, json_out: bool = False) -> None:
    if json_out:
        _json([g.as_dict() for g in gpus])
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="GPU catalog (dense peaks, per GPU)", title_justify="left")
    for c in ("name", "family", "SMs", "bf16 TF/s", "fp8 TF/s", "fp4 TF/s", "HBM GB", "HBM GB/s", "NVLink GB/s/dir", "TDP W"):
        t.add_column(c, justify="left" if c in ("name", "family") else "right")
    for g in gpus:
        t.add_row(g.name, g.family, str(g.sm_count), _fmt(g.bf16_dense_tflops or g.fp16_dense_tflops),
                  _fmt(g.fp8_dense_tflops), _fmt(g.fp4_dense_tflops), _fmt(g.hbm_capacity_GB), _fmt(g.hbm_bw_GBps),
                  _fmt(g.nvlink_bw_GBps), _fmt(g.tdp_W))
    Console().print(t)


def render_hw_show(g: GPUSpec, anchors: dict[str, Any], *, json_out: bool = False) -> None:
    if json_out:
        _json({**g.as_dict(), "measured": {k: vars(a) for k, a in anchors.items()}})
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{g.name}[/bold] ({g.vendor} {g.family}, {g.form_factor}, {g.memory_type})")
    if g.aliases:
        con.print("aliases: " + ", ".join(g.aliases))
    t = Table(show_header=True, title_justify="left")
    t.add_column("field")
    t.add_column("value", justify="right")
    t.add_column("source", overflow="fold")
    for f in ("sm_count", "boost_clock_mhz", "hbm_capacity_GB", "hbm_bw_GBps", "l2_MB", "nvlink_bw_GBps",
              "pcie_bw_GBps", "tdp_W", *(p.peak_field for p in Precision)):
        v = getattr(g, f)
        if v is not None:
            t.add_row(f, _fmt(v), g.sources.get(f, ""))
    con.print(t)
    for a in anchors.values():
        con.print(f"measured {a.kind} ({a.dtype} {a.shape}): {a.value:g} [{a.low:g}-{a.high:g}] - {a.source}")
    if g.notes:
        con.print(f"notes: {g.notes}")


def render_predict(est: StepEstimate, *, json_out: bool = False, ops: bool = False, top: int = 25) -> None:
    if json_out:
        _json(est.to_dict(with_ops=ops))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    c = est.config
    con.print(f"[bold]{est.workload}[/bold] on [bold]{est.gpu}[/bold], {c.precision}, {c.mode}")
    con.print(f"step time {seconds(est.step_time_s)}; throughput {si(est.throughput)} {est.unit}s/s; "
              f"MFU {pct(est.mfu)} (model FLOPs {si(est.model_flops)} / step, against {est.peak_name})")
    hb = " [yellow]host-bound[/yellow]" if est.host_bound else ""
    con.print(f"GPU busy {seconds(est.gpu_busy_s)}, host issue time {seconds(est.host_s)}{hb}")
    if est.as_written_step_s is not None:
        ratio = est.as_written_step_s / est.step_time_s
        slower = " (the rewrite prices slower here: flash attention at short sequences, docs/model.md)" if ratio < 1 else ""
        con.print(f"kernels: production; as written (the captured ops, --kernels as-written) the step takes "
                  f"{seconds(est.as_written_step_s)}, {ratio:.2f}x this{slower}")
    t = Table(title="by category", title_justify="left")
    for col in ("category", "time", "share", "SOL", "SOL %", "bound by", "kernels", "FLOPs", "bytes"):
        t.add_column(col, justify="left" if col in ("category", "bound by") else "right")
    for r in est.categories.iter_rows(named=True):
        t.add_row(r["category"], seconds(r["time_s"]), pct(r["share"]), seconds(r["sol_time_s"]),
                  f"{r['sol_pct']:.0f}%", r["bound_by"], f"{r['kernels']:.0f}", si(r["flops"]), si(r["bytes"], "B"))
    con.print(t)
    m = est.memory
    fit = "[green]fits[/green]" if m.fits else "[red]does not fit[/red]"
    con.print(f"peak memory {gib(m.total)} of {gib(m.capacity)} usable: {fit} (params {gib(m.params)}, grads "
              f"{gib(m.grads)}, optimizer {gib(m.optimizer_state)}, activations {gib(m.activations)}, transient "
              f"{gib(m.transient)}, workspace {gib(m.workspace)}; model: {m.model})")
    if est.uncovered_ops:
        con.print(f"[yellow]uncovered ops (no cost formula): {est.uncovered_ops} "
                  f"({pct(est.uncovered_share_ops)} of ops, {pct(est.uncovered_share_time)} of predicted time; "
                  f"timed as latency only)[/yellow]")
    for w in est.warnings:
        con.print(f"[yellow]warning: {w}[/yellow]")
    if ops:
        t = Table(title=f"top {top} ops by time", title_justify="left")
        for col in ("idx", "op", "phase", "module", "time", "SOL %", "bound by", "shapes"):
            t.add_column(col, justify="right" if col in ("idx", "time", "SOL %") else "left", overflow="fold")
        for r in est.ops.sort("time_s", descending=True).head(top).iter_rows(named=True):
            sol = 100 * r["sol_time_s"] / r["time_s"] if r["time_s"] else 0.0
            t.add_row(str(r["idx"]), r["op"], r["phase"], r["module"], seconds(r["time_s"]), f"{sol:.0f}%",
                      r["bound_by"], str(r["input_shapes"])[:60])
        con.print(t)


def render_calibration(res: CalibrationResult, *, out: str | None = None, json_out: bool = False) -> None:
    if json_out:
        _json({"gpu": res.gpu, "traces": res.traces, "fit": res.fit, "before": res.before.to_dicts(),
               "after": res.after.to_dicts(), "output": out})
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"calibrated on [bold]{res.gpu}[/bold] from {len(res.traces)} trace(s)")
    t = Table(title="per-op kernel time |error| (before -> after)", title_justify="left")
    for col in ("group", "ops", "median", "p90"):
        t.add_column(col, justify="left" if col == "group" else "right")
    after = {r["group"]: r for r in res.after.iter_rows(named=True)}
    for r in res.before.iter_rows(named=True):
        a = after[r["group"]]
        t.add_row(r["group"], str(r["n"]), f"{pct(r['median_abs_err'])} -> {pct(a['median_abs_err'])}",
                  f"{pct(r['p90_abs_err'])} -> {pct(a['p90_abs_err'])}")
    con.print(t)
    for k, v in res.fit.items():
        con.print(f"  {k} = {v}")
    if out:
        con.print(f"wrote {out} (use it with `trainperf predict ... --calibration {out}`)")


def render_check(rep: dict[str, Any], *, json_out: bool = False) -> None:
    """`trainperf calibrate --check`: per-category per-op error, the step ratio and the unpriced ops."""
    if json_out:
        _json(rep)
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"checked {rep['ops']} ops on {', '.join(rep['gpu'])}: per-op kernel time error (predicted vs measured)")
    t = Table(title_justify="left")
    for col in ("category", "ops", "median |err|", "p90 |err|", "signed median"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for name, s in [*rep["by_category"].items(), ("all", rep["all"])]:
        if s["n"]:
            t.add_row(name, str(s["n"]), pct(s["median"]), pct(s["p90"]), f"{100 * s['signed_median']:+.1f}%")
    con.print(t)
    st = rep["step"]
    if st["ratio"] is not None:
        con.print(f"step GPU time (median of {st['n']} steps): predicted {st['predicted_s'] * 1e3:.3f} ms / measured "
                  f"{st['measured_gpu_busy_s'] * 1e3:.3f} ms = {st['ratio']:.2f}x")
    if rep["unpriced"]:
        u = Table(title="unpriced GPU work (top 10 by time)", title_justify="left")
        u.add_column("op", no_wrap=True, overflow="ellipsis", max_width=100)
        for col in ("count", "ms"):
            u.add_column(col, justify="right")
        for r in rep["unpriced"][:10]:
            u.add_row(r["name"][:90], str(r["count"]), f"{r['time_s'] * 1e3:.3f}")
        con.print(u)
