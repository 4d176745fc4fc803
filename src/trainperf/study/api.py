"""`run_study`: select the jobs, build the points, run them on a backend, summarize (what the CLI calls).

On a cluster, jobs are zoo LLMs (the ones with a TransformerArch in parallel/data/zoo_arch.toml): each
point searches the job's best layout with the distributed model, which needs no torch and takes about a
second. On one GPU (--gpu without --cluster), any zoo workload: captured once (seconds), then priced on
every point by the single-GPU model (study/device.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import polars as pl

from trainperf.study.backends import Backend, Progress, run_tasks
from trainperf.study.knobs import Point, check_base, parse_vary, points
from trainperf.study.sweep import Job, make_tasks, summarize, to_table

DEFAULT_JOBS = (("llama3.1-8b", 8), ("llama3.1-70b", 64), ("llama3.1-405b", 1024))
"""The study with no PATTERN and no --gpus: three Llama 3.1 sizes at 8, 64 and 1,024 GPUs."""
DEFAULT_SINGLE = ("llama3.2-1b", "bert-large", "vit-l16", "resnet50", "dit-xl2")
"""With --gpu and no PATTERN: one network of each of five domains (LLM, encoder, ViT, CNN, diffusion)."""
DEFAULT_VARY = ("hbm_bw=1,2", "bf16=1,2", "net_bw=1,2")
DEFAULT_VARY_SINGLE = ("hbm_bw=0.5,1,2", "bf16=1,2")
DEFAULT_CLUSTER = "dgx-h100"
MIN_GBS = 256
"""Default global batch: 256 sequences (2M tokens at 8,192), rounded up to a multiple of the GPUs."""


@dataclass(frozen=True, kw_only=True)
class StudyResult:
    table: pl.DataFrame
    """STUDY_SCHEMA rows, one per (job, point)."""
    summary: pl.DataFrame
    """Per job: elasticities, most sensitive knob, limited by (study/sweep.py summarize)."""
    points: tuple[Point, ...]
    hardware: str
    elapsed_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def _device_jobs(pattern: str | None, *, gpus: tuple[int, ...] | None, gbs: int | None, seq: int | None,
                 precision: str, flavor: str) -> tuple[list[Job], list[str]]:
    """A single-GPU study: every matched zoo workload (any domain) on the single-GPU model, and a note
    naming the workloads a --seq does not apply to (they keep their own sizes)."""
    from trainperf.model.config import PRECISIONS
    from trainperf.workloads import get_workload, list_workloads
    from trainperf.workloads.registry import Size

    if gpus not in (None, (1,)):
        raise ValueError("--gpus needs --cluster: --gpu alone studies one GPU (add --cluster C for more)")
    prec = "bf16" if precision == "auto" else precision
    if prec not in PRECISIONS:
        raise ValueError(f"--precision {precision!r}: a single-GPU study runs {', '.join(PRECISIONS)} or auto")
    names = list(DEFAULT_SINGLE) if pattern is None else [w.name for w in list_workloads(pattern)]
    if not names:
        raise ValueError(f"no workload matches {pattern!r}; run `trainperf zoo` to see all")
    if flavor not in ("full", "tiny"):
        raise ValueError(f"--flavor {flavor!r}: choose full or tiny")
    jobs, no_seq = [], []
    for n in names:
        w = get_workload(n)
        s = seq if seq is not None and w.canonical[flavor].seq is not None else None  # --seq: sequence models only
        if seq is not None and s is None:
            no_seq.append(n)
        w.build(flavor, Size(batch=gbs, seq=s))  # sizes the workload cannot take fail here, before any capture
        jobs.append(Job(workload=n, gpus=1, gbs=gbs or 0, seq=s or 0, precision=prec, engine="device", flavor=flavor))
    if no_seq and len(no_seq) == len(names):
        raise ValueError(f"--seq {seq}: none of {', '.join(names[:5])} has a sequence length; drop --seq")
    notes = [f"--seq {seq} applies to sequence models; {len(no_seq)} have none and keep their own size: "
             f"{', '.join(no_seq[:8])}"] if no_seq else []
    return jobs, notes


def select_jobs(pattern: str | None, *, gpus: tuple[int, ...] | None, gbs: int | None, seq: int | None,
                precision: str, single_gpu: bool, flavor: str = "full") -> tuple[list[Job], list[str]]:
    """The jobs of a study and notes on workloads left out; ValueError when none remains."""
    from trainperf.parallel.api import check_job, default_seq
    from trainperf.parallel.zoo_arch import zoo_entry

    if single_gpu:
        return _device_jobs(pattern, gpus=gpus, gbs=gbs, seq=seq, precision=precision, flavor=flavor)
    if flavor != "full":
        raise ValueError("--flavor applies to single-GPU studies (--gpu without --cluster): the planner prices "
                         "full-size architectures")
    notes: list[str] = []
    if pattern is None:
        names = [n for n, _ in DEFAULT_JOBS]
    else:
        from trainperf.workloads import list_workloads

        matched = [w.name for w in list_workloads(pattern)]
        if not matched:
            raise ValueError(f"no workload matches {pattern!r}; run `trainperf zoo` to see all")
        names = []
        left: list[str] = []
        for n in matched:
            try:
                ok = zoo_entry(n).arch is not None
            except KeyError:
                ok = False
            (names if ok else left).append(n)
        if not names:
            raise ValueError(f"{pattern!r} matches {len(matched)} workload(s) ({', '.join(matched[:5])}), none a "
                             "zoo LLM with an architecture: a cluster study covers decoder LLMs (`trainperf zoo "
                             "llm`); study other networks on one GPU with --gpu G")
        if left:
            notes.append(f"left out {len(left)} workload(s) without a decoder architecture (study them on one GPU "
                         f"with --gpu): {', '.join(left[:8])}" + (" ..." if len(left) > 8 else ""))
    pairs = list(DEFAULT_JOBS) if pattern is None and gpus is None else [
        (n, g) for n in names for g in (gpus or (8,))]
    if precision not in ("bf16", "fp16", "fp8", "fp4", "auto"):
        raise ValueError(f"--precision {precision!r}: choose one of bf16, fp16, fp8, fp4, auto")
    jobs = []
    for n, g in pairs:
        s = default_seq(n, seq)
        b = gbs if gbs is not None else g * math.ceil(MIN_GBS / g)
        check_job(n, gpus=g, seq=s, gbs=b)
        jobs.append(Job(workload=n, gpus=g, gbs=b, seq=s, precision=precision))
    return jobs, notes


def run_study(pattern: str | None = None, *, vary: tuple[str, ...] | None = None, cluster: str | None = None,
              gpu: str | None = None, gpus: tuple[int, ...] | None = None, gbs: int | None = None,
              seq: int | None = None, precision: str = "bf16", backend: Backend = Backend.LOCAL,
              workers: int | None = None, address: str | None = None, flavor: str = "full",
              progress: Progress | None = None) -> StudyResult:
    """Every selected job at its searched best layout on every point of the --vary grid.

    ``cluster`` None and ``gpu`` given: a single-GPU study of that part; both None: dgx-h100."""
    from trainperf.hardware import get_gpu
    from trainperf.hardware.cluster import get_cluster

    single = cluster is None and gpu is not None
    base = cluster or DEFAULT_CLUSTER
    varies = [parse_vary(v) for v in (vary or (DEFAULT_VARY_SINGLE if single else DEFAULT_VARY))]
    pts = points(varies)
    check_base({k.value for k, _ in varies}, single_gpu=single)
    get_cluster(base)  # unknown names and bad files fail before any work, as does every point's hardware
    if gpu:
        get_gpu(gpu)
    from trainperf.study.knobs import cluster_for

    for k, vals in varies:
        for v in vals:
            cluster_for(((k.value, v),), cluster=base, gpu=gpu, single_gpu=single)
    jobs, notes = select_jobs(pattern, gpus=gpus, gbs=gbs, seq=seq, precision=precision, single_gpu=single,
                              flavor=flavor)
    tasks = make_tasks(jobs, pts, cluster=base, gpu=gpu, single_gpu=single)
    t0 = time.perf_counter()
    rows = run_tasks(tasks, backend=backend, workers=workers, address=address, progress=progress)
    table = to_table(rows)
    hw = f"1x {gpu}" if single else base + (f" with {gpu}" if gpu else "")
    return StudyResult(table=table, summary=summarize(table), points=tuple(pts), hardware=hw,
                       elapsed_s=time.perf_counter() - t0, notes=tuple(notes))
