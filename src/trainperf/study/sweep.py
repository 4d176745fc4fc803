"""A study as data: jobs x hardware points -> one row each (STUDY_SCHEMA), then per job the elasticity of
the step time to each knob and what limits it. Pure functions; the backends only decide where
``run_task`` runs.

- Each row is the job at its searched best layout on that point's hardware (optimize.search_layouts over
  the full default SearchSpace, so the layout may change between points, as it would on real hardware).
- Elasticity of job j to knob k: the least-squares slope of log(step time) on log(knob value), fitted
  jointly over the job's feasible points with one column per numeric knob. For a full factorial the
  columns are orthogonal, so this equals the slope of each knob alone averaged over the other knobs.
  -1 = time inversely proportional to the knob (fully bound by it), 0 = insensitive. A summary of the
  points given, not a derivative: a threshold (a layout that only fits above some capacity) shows as a
  slope spread over the interval.
- Limited by: the largest part of the PlanEstimate breakdown on the busiest rank at the job's base point
  (compute by op category, exposed communication by parallel axis, pipeline bubble, optimizer, overhead).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from trainperf.study.knobs import NUMERIC_KNOBS, Point, cluster_for, label

STUDY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "workload": pl.Utf8, "gpus": pl.Int64, "gbs": pl.Int64, "seq": pl.Int64, "point": pl.Utf8,
    "knobs": pl.Utf8, "cluster": pl.Utf8, "gpu": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8,
    "step_time_s": pl.Float64, "throughput_per_gpu": pl.Float64, "unit": pl.Utf8, "mfu": pl.Float64,
    "layout": pl.Utf8,
    "limited_by": pl.Utf8, "limited_share": pl.Float64, "compute_s": pl.Float64, "exposed_comm_s": pl.Float64,
    "bubble_s": pl.Float64, "optimizer_s": pl.Float64, "overhead_s": pl.Float64, "evaluated": pl.Int64,
    "search_s": pl.Float64,
}
"""One row per (job, point). status: ok | infeasible (no layout fits; reason = the commonest refusal) |
error. knobs: the point as JSON ({"hbm_bw": 2.0, ...}). Times in seconds per step, busiest rank.
throughput_per_gpu: units (unit: token or sample) per second per GPU. Single-GPU jobs (engine device):
gbs and seq are the captured batch and sequence (0 when the workload has none)."""


@dataclass(frozen=True, kw_only=True)
class Job:
    """One training job of a study: a zoo workload, its GPUs, global batch and sequence length.

    engine "plan": a zoo LLM at its searched best layout (the distributed model); "device": any zoo workload
    on one GPU (captured, priced by the single-GPU model; gbs / seq 0 = the workload's canonical size)."""

    workload: str
    gpus: int
    gbs: int
    seq: int
    precision: str = "bf16"
    engine: str = "plan"
    flavor: str = "full"


@dataclass(frozen=True, kw_only=True)
class Task:
    """The unit a backend runs: one job on several points that share a GPU part (so the per-layer
    pricing cache of parallel.estimate serves all of them in one process)."""

    job: Job
    points: tuple[Point, ...]
    cluster: str
    gpu: str | None
    single_gpu: bool = False


def layout_text(plan: Any) -> str:
    """'tp2 pp2 cp4 dp4 mbs1 zero2 rc=none' (axes at 1 left out, except dp and mbs)."""
    parts = [f"{a}{getattr(plan, a)}" for a in ("tp", "pp", "vp", "cp", "ep") if getattr(plan, a) > 1]
    parts += [f"dp{plan.dp}", f"mbs{plan.mbs}", plan.sharding.value, f"rc={plan.recompute.value}", plan.precision]
    return " ".join(parts)


def limit_of(est: Any) -> tuple[str, float]:
    """The largest part of a PlanEstimate's step and its share: 'compute matmul', 'exposed comm tp', 'bubble'."""
    parts: dict[str, float] = {f"compute {k}": v for k, v in est.compute_s.items()}
    for key, v in est.exposed_comm_s.items():
        axis = key.rpartition("@")[2] or key
        parts[f"exposed comm {axis}"] = parts.get(f"exposed comm {axis}", 0.0) + v
    parts.update({"pipeline bubble": est.bubble_s, "optimizer": est.optimizer_s, "overhead": est.overhead_s})
    name, v = max(parts.items(), key=lambda kv: kv[1])
    return name, (v / est.step_time_s if est.step_time_s > 0 else 0.0)


def _row(job: Job, point: Point, **kw: Any) -> dict[str, Any]:
    import orjson

    row: dict[str, Any] = dict.fromkeys(STUDY_SCHEMA)
    row.update(workload=job.workload, gpus=job.gpus, gbs=job.gbs, seq=job.seq, point=label(point),
               knobs=orjson.dumps(dict(point)).decode())
    row.update(kw)  # a device job's captured batch and sequence replace the job's (0 = canonical)
    return row


def run_point(job: Job, point: Point, *, cluster: str, gpu: str | None, single_gpu: bool = False) -> dict[str, Any]:
    """One row: ``job`` at its searched best layout on ``point``'s hardware."""
    from trainperf.optimize.search import search_layouts
    from trainperf.optimize.space import SearchSpace
    from trainperf.parallel.api import resolve_arch

    spec = cluster_for(point, cluster=cluster, gpu=gpu, single_gpu=single_gpu)
    base = {"cluster": spec.name, "gpu": spec.gpu.name}
    try:
        arch = resolve_arch(job.workload)
        t0 = time.perf_counter()
        res = search_layouts(arch, SearchSpace(gpus=job.gpus, gbs=job.gbs, seq=job.seq, precision=job.precision,
                                               base=(("fused_kernels", True),)), spec, top=1)
        dt = time.perf_counter() - t0
    except Exception as e:  # one point failing must not lose the rest of the study
        return _row(job, point, **base, status="error", reason=f"{type(e).__name__}: {e}"[:300])
    est = res.best
    if est is None:
        why = next(iter(res.infeasible), "no layout of the job")
        return _row(job, point, **base, status="infeasible", reason=f"no layout fits ({why})",
                    evaluated=res.evaluated, search_s=dt)
    lim, share = limit_of(est)
    return _row(job, point, **base, status="ok", reason="", step_time_s=est.step_time_s,
                throughput_per_gpu=est.tokens_per_s_per_gpu, unit="token", mfu=est.mfu, layout=layout_text(est.plan),
                limited_by=lim, limited_share=share, compute_s=sum(est.compute_s.values()),
                exposed_comm_s=sum(est.exposed_comm_s.values()), bubble_s=est.bubble_s,
                optimizer_s=est.optimizer_s, overhead_s=est.overhead_s, evaluated=res.evaluated, search_s=dt)


def run_task(task: Task) -> list[dict[str, Any]]:
    """Every point of a task, in order (what a worker process or a Ray task runs)."""
    if task.job.engine == "device":
        from trainperf.study.device import run_device_task

        return run_device_task(task)
    return [run_point(task.job, p, cluster=task.cluster, gpu=task.gpu, single_gpu=task.single_gpu)
            for p in task.points]


def make_tasks(jobs: list[Job], pts: list[Point], *, cluster: str, gpu: str | None,
               single_gpu: bool = False) -> list[Task]:
    """One task per (job, GPU part): points differing only in links share their per-layer pricing."""
    gpu_keys = {"hbm_bw", "hbm_capacity", "bf16", "fp8", "flops", "gpu", "cluster"}
    out: list[Task] = []
    for job in jobs:
        if job.engine == "device":  # one capture serves every point: one task
            out.append(Task(job=job, points=tuple(pts), cluster=cluster, gpu=gpu, single_gpu=single_gpu))
            continue
        groups: dict[Point, list[Point]] = {}
        for p in pts:
            groups.setdefault(tuple(kv for kv in p if kv[0] in gpu_keys), []).append(p)
        out += [Task(job=job, points=tuple(g), cluster=cluster, gpu=gpu, single_gpu=single_gpu)
                for g in groups.values()]
    return out


def to_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=STUDY_SCHEMA)


def log_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Least-squares slopes of log y on the columns of log x (with an intercept): shape (n_knobs,).
    None when the points cannot determine them (fewer points than unknowns, or collinear knobs)."""
    if x.ndim != 2 or x.shape[0] != y.shape[0] or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("log_slopes: x (points, knobs) and y (points) must be positive and agree in length")
    a = np.column_stack([np.ones(len(y)), np.log(x)])
    if np.linalg.matrix_rank(a) < a.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(a, np.log(y), rcond=None)
    return np.asarray(coef[1:])


def _job_key(r: dict[str, Any]) -> str:
    return f"{r['workload']}@{r['gpus']}"


def _categorical(knobs_json: str) -> str:
    """The categorical part of a point ('gpu=B200'): elasticities are fitted per part, never across."""
    import orjson

    return ",".join(f"{k}={v}" for k, v in orjson.loads(knobs_json).items() if k in ("gpu", "cluster"))


def varied_knobs(table: pl.DataFrame) -> list[str]:
    """Numeric knobs that take at least two values in the table, in --vary order."""
    import orjson

    seen: dict[str, set[float]] = {}
    for s in table["knobs"].unique(maintain_order=True).to_list():
        for k, v in orjson.loads(s).items():
            if k in {n.value for n in NUMERIC_KNOBS}:
                seen.setdefault(k, set()).add(float(v))
    return [k for k, vals in seen.items() if len(vals) > 1]


def summarize(table: pl.DataFrame) -> pl.DataFrame:
    """Per job: base step time, elasticity to each varied numeric knob (columns ``e_<knob>``), the knob
    it is most sensitive to, and what limits it at the base point (the point nearest every knob at 1x /
    its first value), with the feasible point count."""
    import orjson

    knobs = varied_knobs(table)
    cat = pl.col("knobs").map_elements(_categorical, return_dtype=pl.Utf8)
    out: list[dict[str, Any]] = []
    for (wl, gpus, hw), grp in table.with_columns(hw=cat).group_by(["workload", "gpus", "hw"], maintain_order=True):
        ok = grp.filter(pl.col("status") == "ok")
        row: dict[str, Any] = {"job": f"{wl}@{gpus}" + (f" {hw}" if hw else ""), "workload": wl, "gpus": gpus,
                               "points": grp.height, "feasible": ok.height}
        el: np.ndarray | None = None
        if ok.height and knobs:
            kv = [orjson.loads(s) for s in ok["knobs"].to_list()]
            x = np.array([[float(d[k]) for k in knobs] for d in kv])
            el = log_slopes(x, ok["step_time_s"].to_numpy())
        for i, k in enumerate(knobs):
            # slopes below 1e-9 are rounding of an exact 0 (a knob no part of the step reads)
            row[f"e_{k}"] = None if el is None else (0.0 if abs(el[i]) < 1e-9 else float(el[i]))
        if el is not None and len(knobs):
            j = int(np.argmin(el))
            row["most_sensitive"] = knobs[j] if el[j] < -0.01 else "none"
        else:
            row["most_sensitive"] = None
        if ok.height:
            dist = [sum(abs(math.log(float(v))) for k, v in orjson.loads(s).items() if k in knobs and
                        k != "domain") for s in ok["knobs"].to_list()]
            b = ok.row(int(np.argmin(dist)), named=True)
            row.update(base_point=b["point"], base_step_s=b["step_time_s"], base_layout=b["layout"],
                       limited_by=b["limited_by"], limited_share=b["limited_share"])
        else:
            row.update(base_point=None, base_step_s=None, base_layout=None, limited_by="infeasible",
                       limited_share=None)
        out.append(row)
    schema: dict[str, Any] = {"job": pl.Utf8, "workload": pl.Utf8, "gpus": pl.Int64, "points": pl.Int64,
                              "feasible": pl.Int64, **{f"e_{k}": pl.Float64 for k in knobs},
                              "most_sensitive": pl.Utf8, "base_point": pl.Utf8, "base_step_s": pl.Float64,
                              "base_layout": pl.Utf8, "limited_by": pl.Utf8, "limited_share": pl.Float64}
    return pl.DataFrame(out, schema=schema)
