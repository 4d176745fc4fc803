"""`trainperf study`: zoo LLMs at their searched best layouts over a grid of what-if hardware, the
elasticity of each job's step time to each knob, and what limits it (docs/study.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainperf.cli.results import DbOpt, check_db, store


def register(app: typer.Typer) -> None:
    app.command("study")(study_cmd)


def _gpus(text: str | None) -> tuple[int, ...] | None:
    """'8,64' -> (8, 64); one line naming the bad item."""
    if text is None:
        return None
    out = []
    for item in text.split(","):
        try:
            n = int(item)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--gpus {text!r}: expected GPU counts N[,N...], e.g. 8,64 (bad item {item!r})")
        out.append(n)
    return tuple(out)


def study_cmd(
    pattern: Annotated[str | None, typer.Argument(help="zoo workloads (glob, substring or domain): on a cluster its "
                                                       "LLMs (default Llama 3.1 8B/70B/405B on 8/64/1,024 GPUs); "
                                                       "with --gpu alone any network (default one each of LLM, "
                                                       "encoder, ViT, CNN, diffusion)")] = None,
    vary: Annotated[list[str] | None, typer.Option(
        "--vary", help="KNOB=V1,V2,... (repeatable; full factorial). Knobs: hbm_bw, hbm_capacity, bf16, fp8, "
                       "flops, nvlink_bw, net_bw, nvlink_latency, net_latency (factors), domain (GPUs per NVLink domain), gpu, cluster "
                       "(parts). Default: hbm_bw=1,2 bf16=1,2 net_bw=1,2")] = None,
    cluster: Annotated[str | None, typer.Option(help="base cluster: a bundled name or a .toml (default dgx-h100)")] = None,
    gpu: Annotated[str | None, typer.Option(help="GPU part: swapped into --cluster, or alone a single-GPU study")] = None,
    gpus: Annotated[str | None, typer.Option(help="GPUs per job, N[,N...] (needs --cluster or the default)")] = None,
    gbs: Annotated[int | None, typer.Option(min=1, help="global batch in sequences (default 256, rounded to the "
                                                        "GPUs); one GPU: the batch (default each workload's)")] = None,
    seq: Annotated[int | None, typer.Option(min=1, help="sequence length (default: each model's, capped at 8,192)")] = None,
    precision: Annotated[str, typer.Option(help="bf16, fp16, fp8, fp4 or auto (one GPU: bf16, fp16, fp32, tf32, "
                                                "fp8 or auto)")] = "bf16",
    flavor: Annotated[str, typer.Option(help="one GPU only: full or tiny (the zoo's small configurations)")] = "full",
    backend: Annotated[str, typer.Option(help="local (worker processes on this machine) or ray")] = "local",
    workers: Annotated[int | None, typer.Option(help="worker processes or local Ray CPUs (0 = in this process; "
                                                     "default: every CPU)")] = None,
    address: Annotated[str | None, typer.Option(help="with --backend ray: a running Ray cluster, e.g. auto or "
                                                     "ray://head:10001")] = None,
    db: DbOpt = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML page (heatmaps)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON: summary, every point, notes")] = False,
) -> None:
    """Every selected workload on every point of a grid of hardware knobs: on a cluster each zoo LLM at
    its searched best layout, on one GPU (--gpu alone) any zoo network priced by the single-GPU model. How
    its step time moves with each knob (elasticity, d log time / d log knob: -1 = fully bound by it),
    which knob it is most sensitive to, and what limits it at the base point. Points run in worker
    processes (or Ray tasks with --backend ray); the table does not depend on where they ran."""
    from trainperf.report.output import check_output
    from trainperf.report.progress import counter
    from trainperf.report.study_text import render_study
    from trainperf.study import run_study
    from trainperf.study.backends import Backend

    try:
        be = Backend(backend)
    except ValueError:
        raise ValueError(f"--backend {backend!r}: choose one of {', '.join(b.value for b in Backend)}") from None
    check_db(db)
    if html is not None:
        check_output(html, flag="--html")  # before the work, which can take minutes
    with counter("study points") as progress:
        res = run_study(pattern, vary=tuple(vary) if vary else None, cluster=cluster, gpu=gpu, gpus=_gpus(gpus),
                        gbs=gbs, seq=seq, precision=precision, backend=be, workers=workers, address=address,
                        flavor=flavor, progress=progress)
    run_id = store(db, "study", res.table, hardware=res.hardware, args={
        "pattern": pattern, "vary": vary, "cluster": cluster, "gpu": gpu, "gpus": gpus, "gbs": gbs, "seq": seq,
        "precision": precision, "flavor": flavor, "backend": backend, "workers": workers, "address": address})
    if html is not None:
        from trainperf.report.output import write_text_atomic
        from trainperf.report.study_html import render_study_html

        replaced = write_text_atomic(html, render_study_html(res), flag="--html")
        typer.echo(f"{'replaced' if replaced else 'wrote'} {html}", err=True)
    render_study(res, json_out=json_out, run_id=run_id)
    failed = res.table.filter(res.table["status"] == "error").height
    if failed:
        typer.echo(f"error: {failed} of {res.table.height} points failed (status error; see their reason)", err=True)
        raise typer.Exit(1)
