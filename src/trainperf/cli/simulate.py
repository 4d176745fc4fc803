"""`trainperf simulate`: one layout's training step as a per-rank timeline (discrete-event simulation),
written as Kineto traces that Perfetto opens and `trainperf analyze` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainperf.cli import layout as L


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)


def _pairs(text: str | None, flag: str, key: type) -> dict:  # type: ignore[type-arg]
    """'3=1.15,7=1.1' -> {3: 1.15, 7: 1.1}; one line naming the item when it does not parse."""
    out: dict = {}  # type: ignore[type-arg]
    for item in (text or "").split(","):
        if not item.strip():
            continue
        k, sep, v = item.partition("=")
        try:
            out[key(k.strip())] = float(v)
        except ValueError:
            sep = ""
        if not sep:
            example = "3=1.15" if key is int else "nvlink=0.5"
            raise ValueError(f"{flag} {item!r}: expected KEY=FACTOR, e.g. {flag} {example}")
    return out


def simulate_cmd(
    model: L.Model,
    cluster: L.Cluster = "dgx-h100",
    gpus: L.Gpus = 8,
    tp: L.Tp = 1,
    pp: L.Pp = 1,
    cp: L.Cp = 1,
    ep: L.Ep = 1,
    vp: L.Vp = 1,
    mbs: L.Mbs = 1,
    gbs: L.Gbs = None,
    seq: L.Seq = None,
    zero: L.Zero = None,
    recompute: L.RecomputeOpt = "auto",
    precision: L.PrecisionOpt = "bf16",
    gpu: L.GpuSwap = None,
    tp_overlap: L.TpOverlap = None,
    framework: L.FrameworkOpt = None,
    steps: Annotated[int, typer.Option(min=1, max=100, help="training steps to simulate (the last is reported)")] = 2,
    slow_rank: Annotated[str | None, typer.Option(
        help="what-if: ranks whose compute is slower, RANK=FACTOR[,...], e.g. 3=1.15")] = None,
    jitter: Annotated[float, typer.Option(help="what-if: relative std. dev. of each kernel's time, e.g. 0.02")] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of --jitter")] = 0,
    link: Annotated[str | None, typer.Option(
        help="what-if: link tier bandwidth x factor, TIER=FACTOR[,...], e.g. nvlink=0.5 (tiers: `trainperf hw`)")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="folder for one Kineto trace per simulated rank "
                                                                   "(rank{R}.json)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Simulate a layout's training steps event by event: each pipeline stage's representative rank runs its
    compute stream and one communication stream per axis (TP, CP, EP, DP/FSDP, PP) in the 1F1B or
    interleaved schedule, with the same per-op costs, collectives and overlap rules as `trainperf plan`.
    Prints the step time (and plan's beside it), per rank compute / exposed communication by axis / idle;
    with -o writes one trace per rank for Perfetto (ui.perfetto.dev) and `trainperf analyze DIR`.
    What-ifs: --slow-rank, --jitter, --link."""
    import time

    from trainperf.parallel.api import predict_request
    from trainperf.report.simulate_text import render_simulation
    from trainperf.simulate.api import simulate
    from trainperf.simulate.build import WhatIf

    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: is a file; give a folder for the per-rank traces")
    t0 = time.perf_counter()
    req, est = L.feasible_layout(model, cluster=cluster, gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, vp=vp, mbs=mbs,
                                 gbs=gbs, seq=seq, zero=zero, recompute=recompute, precision=precision, gpu=gpu,
                                 tp_overlap=tp_overlap, framework=framework)
    links = _pairs(link, "--link", str)
    spec = req.cluster.with_links_scaled(links) if links else req.cluster
    plan_est = predict_request(type(req)(arch=req.arch, plan=est.plan, cluster=spec, auto_recompute=False))
    whatif = WhatIf(slow_ranks=tuple(_pairs(slow_rank, "--slow-rank", int).items()), jitter=jitter, seed=seed)
    res = simulate(req.arch, est.plan, spec, steps=steps, whatif=whatif)
    files: list[Path] = []
    if out is not None:
        from trainperf.simulate.kineto import write_traces

        files = write_traces(res.timeline, out, spec.gpu)
    render_simulation(res, plan_est, files=files, elapsed_s=time.perf_counter() - t0, json_out=json_out)
