"""Predict every selected zoo workload on every selected GPU and rank them, lowest MFU first, so the
biggest problems across the fleet come first. One capture per workload (reused across GPUs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig
from trainperf.workloads import get_workload

FLEET_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "workload": pl.Utf8, "domain": pl.Utf8, "gpu": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8,
    "step_time_s": pl.Float64, "throughput": pl.Float64, "unit": pl.Utf8, "mfu": pl.Float64,
    "top_category": pl.Utf8, "top_category_share": pl.Float64, "top_category_sol_pct": pl.Float64,
    "top_category_bound_by": pl.Utf8, "host_bound": pl.Boolean, "peak_mem_gib": pl.Float64, "fits": pl.Boolean,
}
"""One row per (workload, GPU). status: ok | unsupported (cannot be captured on fake tensors) | error."""


def _row(workload: str, domain: str, gpu: str, status: str, reason: str = "") -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(FLEET_SCHEMA)
    row.update(workload=workload, domain=domain, gpu=gpu, status=status, reason=reason)
    return row


@dataclass(frozen=True)
class FleetResult:
    table: pl.DataFrame
    """FLEET_SCHEMA rows, lowest MFU first."""
    fixes: pl.DataFrame
    """priorities.FIXES_SCHEMA rows: each applicable fix of each ok workload, priced (empty unless asked)."""


def sweep(workloads: Iterable[str], gpus: Iterable[str], cfg: ExecConfig | None = None, *, flavor: str = "full",
          progress: Callable[[str], None] | None = None) -> pl.DataFrame:
    """The fleet table (FLEET_SCHEMA), sorted by MFU ascending (rows that are not ok last)."""
    return fleet_sweep(workloads, gpus, cfg, flavor=flavor, progress=progress).table


def fleet_sweep(workloads: Iterable[str], gpus: Iterable[str], cfg: ExecConfig | None = None, *,
                flavor: str = "full", progress: Callable[[str], None] | None = None,
                fixes: bool = False) -> FleetResult:
    """The fleet table and, with ``fixes``, every workload's fixes priced by counterfactual
    (fleet/priorities.py) from the same capture."""
    from trainperf.capture.api import capture_workload
    from trainperf.fleet.priorities import FIXES_SCHEMA, fix_rows
    from trainperf.model import predict_step

    fix_list: list[dict[str, object]] = []

    cfg = cfg or ExecConfig()
    specs = [get_gpu(g) for g in gpus]  # unknown GPU names fail before any capture
    rows: list[dict[str, object]] = []
    for name in workloads:
        w = get_workload(name)
        if progress is not None:
            progress(name)
        if not w.fake_ok:
            rows += [_row(name, w.domain.value, s.name, "unsupported", w.fake_note or "not fake-traceable")
                     for s in specs]
            continue
        try:
            graph = capture_workload(name, flavor)
        except Exception as e:  # one workload failing must not lose the rest of the sweep
            rows += [_row(name, w.domain.value, s.name, "error", f"capture: {type(e).__name__}: {e}"[:200])
                     for s in specs]
            continue
        for spec in specs:
            est = predict_step(graph, spec, cfg)
            cats = est.categories.sort("time_s", descending=True)
            top = cats.row(0, named=True) if cats.height else {}
            row = _row(name, w.domain.value, spec.name, "ok")
            row.update(step_time_s=est.step_time_s, throughput=est.throughput, unit=est.unit, mfu=est.mfu,
                       top_category=top.get("category"), top_category_share=top.get("share"),
                       top_category_sol_pct=top.get("sol_pct"), top_category_bound_by=top.get("bound_by"),
                       host_bound=est.host_bound, peak_mem_gib=est.memory.total / 2**30, fits=est.fits)
            rows.append(row)
            if fixes:
                fix_list += fix_rows(name, graph, spec, cfg)
    df = pl.DataFrame(rows, schema=FLEET_SCHEMA)
    return FleetResult(df.sort([pl.col("status") != "ok", "mfu"], nulls_last=True),
                       pl.DataFrame(fix_list, schema=FIXES_SCHEMA))
