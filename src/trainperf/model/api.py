"""One call from a workload name (or OpGraph file, or user file.py:function) to a StepEstimate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from trainperf.hardware import GPUSpec, get_gpu
from trainperf.model.config import ExecConfig
from trainperf.model.production import Kernels, causal_attention, production
from trainperf.model.step import StepEstimate, predict_step
from trainperf.opgraph import OpGraph


def load_graph(workload: str, cfg: ExecConfig, *, flavor: str = "full", batch: int | None = None,
               seq: int | None = None, image_size: int | None = None) -> OpGraph:
    """An OpGraph from a .parquet file written by `trainperf capture -o`, a user `file.py:function`, or a
    zoo workload name (captured in the dtype `cfg.precision` runs in)."""
    if workload.endswith(".parquet"):
        return OpGraph.read_parquet(workload)
    from trainperf.capture.api import capture_built, capture_workload
    from trainperf.workloads import Size

    size = Size(batch=batch, seq=seq, image_size=image_size)
    if ":" in workload and workload.split(":", 1)[0].endswith(".py"):
        from trainperf.capture.user import load_user_workload

        built, name = load_user_workload(workload, flavor, size)
        return capture_built(built, name=name, flavor=flavor, dtype=cfg.capture_dtype)
    if Path(workload).suffix in (".py", ".pt"):
        raise ValueError(f"{workload}: give a user workload as path/to/file.py:function")
    return capture_workload(workload, flavor, size, cfg.capture_dtype)


def predict_workload(workload: str, gpu: str | GPUSpec, cfg: ExecConfig | None = None, *, flavor: str = "full",
                     batch: int | None = None, seq: int | None = None,
                     image_size: int | None = None, kernels: str | None = None) -> StepEstimate:
    """Capture (or load) one training step and predict it on `gpu` under `cfg`. ``kernels="production"``
    prices it with the kernels production training runs (model/production.py), and also gives the step as
    captured (``as_written_step_s``) when a rewrite applied; ``None`` chooses production for zoo workloads
    (recipes of what training jobs run) and as-written for your own models (priced as you wrote them)."""
    from trainperf.vocab import choice

    k = default_kernels(workload) if kernels is None else choice(Kernels, kernels, "--kernels")
    cfg = cfg or ExecConfig()
    spec = get_gpu(gpu)  # fail fast on an unknown GPU, before a long capture
    graph = load_graph(workload, cfg, flavor=flavor, batch=batch, seq=seq, image_size=image_size)
    if k is Kernels.AS_WRITTEN:
        return predict_step(graph, spec, cfg)
    fused = production(graph, causal=causal_attention(workload))
    est = dataclasses.replace(predict_step(fused, spec, cfg), kernels=Kernels.PRODUCTION.value)
    if fused is graph:  # every rewrite hands its input back when it finds nothing to rewrite
        return est
    return dataclasses.replace(est, as_written_step_s=predict_step(graph, spec, cfg).step_time_s)


def default_kernels(workload: str) -> Kernels:
    """production for a zoo workload, as-written for a user model (file.py:function, an OpGraph file)."""
    from trainperf.workloads import get_workload
    from trainperf.workloads.registry import UnknownWorkloadError

    try:
        get_workload(workload)
    except (UnknownWorkloadError, KeyError, ValueError):
        return Kernels.AS_WRITTEN
    return Kernels.PRODUCTION
