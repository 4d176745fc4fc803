"""Single-GPU study points priced by the single-GPU model: any zoo workload (CNNs, diffusion, encoders,
speech, recommendation, LLMs) captured once per task, then its step predicted on every point's GPU.

The capture is the expensive part (seconds at full size, on fake tensors); each point then costs one
`predict_step` (tens of milliseconds), so a task holds every point of its workload. A point where the
step does not fit the (varied) HBM capacity is ``infeasible`` with the numbers; its time is still
recorded, since a smaller batch or checkpointing would change it.
"""

from __future__ import annotations

import time
from typing import Any

from trainperf.study.knobs import cluster_for


def _limit(est: Any) -> tuple[str, float]:
    """The category with the most step time and what bounds it: 'matmul, compute-bound', its share."""
    top = est.categories.sort(["time_s", "category"], descending=[True, False]).row(0, named=True)
    return f"{top['category']}, {top['bound_by']}-bound", float(top["share"])


def run_device_task(task: Any) -> list[dict[str, Any]]:
    """Every point of a single-GPU task: capture the workload once, predict it on each point's GPU."""
    from trainperf.model import ExecConfig, predict_step
    from trainperf.model.api import load_graph
    from trainperf.study.sweep import _row

    job = task.job
    cfg = ExecConfig(precision=job.precision)
    try:
        graph = load_graph(job.workload, cfg, flavor=job.flavor, batch=job.gbs or None, seq=job.seq or None)
    except Exception as e:  # a workload that cannot be captured: every point says why, none is lost
        reason = f"capture failed: {type(e).__name__}: {e}"[:300]
        out = []
        for p in task.points:
            spec = cluster_for(p, cluster=task.cluster, gpu=task.gpu, single_gpu=True)
            out.append(_row(job, p, cluster=spec.name, gpu=spec.gpu.name, status="error", reason=reason))
        return out
    meta = graph.meta
    rows = []
    for p in task.points:
        spec = cluster_for(p, cluster=task.cluster, gpu=task.gpu, single_gpu=True)
        base = {"cluster": spec.name, "gpu": spec.gpu.name, "gbs": meta.batch, "seq": meta.seq or 0}
        t0 = time.perf_counter()
        try:
            est = predict_step(graph, spec.gpu, cfg)
        except Exception as e:
            rows.append(_row(job, p, **base, status="error", reason=f"{type(e).__name__}: {e}"[:300]))
            continue
        cats = {r["category"]: r["time_s"] for r in est.categories.iter_rows(named=True)}
        lim, share = _limit(est)
        m = est.memory
        rows.append(_row(job, p, **base, status="ok" if m.fits else "infeasible",
                         reason="" if m.fits else f"does not fit: {m.total / 2**30:.1f} GiB of "
                                                  f"{m.capacity / 2**30:.1f} GiB usable",
                         step_time_s=est.step_time_s, throughput_per_gpu=est.throughput, unit=est.unit,
                         mfu=est.mfu, layout=f"1 GPU, batch {meta.batch}" + (f", seq {meta.seq}" if meta.seq else ""),
                         limited_by=lim, limited_share=share,
                         compute_s=sum(v for k, v in cats.items() if k != "optimizer"), exposed_comm_s=0.0,
                         bubble_s=0.0, optimizer_s=cats.get("optimizer", 0.0),
                         overhead_s=max(0.0, est.step_time_s - sum(cats.values())), evaluated=1,
                         search_s=time.perf_counter() - t0))
    return rows
