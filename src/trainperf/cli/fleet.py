"""`trainperf fleet`: the whole zoo (or a filter of it) predicted on one or more GPUs, worst MFU first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainperf.cli.results import DbOpt, check_db, store


def register(app: typer.Typer) -> None:
    app.command("fleet")(fleet_cmd)


def fleet_cmd(
    pattern: Annotated[str | None, typer.Argument(help="glob, substring or domain of zoo workloads (default: all)")] = None,
    gpu: Annotated[list[str] | None, typer.Option("--gpu", help="GPU name (repeatable; default H100-SXM)")] = None,
    flavor: Annotated[str, typer.Option(help="full or tiny")] = "full",
    precision: Annotated[str, typer.Option(help="bf16, fp16, fp32, tf32 or fp8")] = "bf16",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile: fused elementwise/norm chains")] = False,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="CUDA graphs: no per-kernel launch cost")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON rows")] = False,
    priorities: Annotated[bool, typer.Option("--priorities", help="also price each fix (CUDA graphs, torch.compile, "
                                                                  "channels-last, fp8, fused attention, padded "
                                                                  "dimensions) on every workload and rank the "
                                                                  "fixes by fleet time recovered")] = False,
    weights: Annotated[Path | None, typer.Option(help="with --priorities: TOML of workload = GPU-hours (default: "
                                                      "every workload weighs the same)")] = None,
    top: Annotated[int, typer.Option(min=1, max=10, help="with --priorities: fixes to list")] = 3,
    cluster: Annotated[str | None, typer.Option(help="instead of one GPU: every zoo LLM at its searched best layout "
                                                     "on --gpus GPUs of this cluster (dgx-h100, gb200-nvl72, ...)")] = None,
    gpus: Annotated[int | None, typer.Option(help="with --cluster: GPUs in each job")] = None,
    seq: Annotated[int, typer.Option(help="with --cluster: sequence length (capped at each model's positions)")] = 8192,
    db: DbOpt = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML page (MFU bars, "
                                                            "the table, the priorities)")] = None,
) -> None:
    """Predict every selected zoo workload on every GPU and rank them by MFU, lowest first: which
    networks are furthest from the hardware, what dominates their step (category, its speed-of-light %,
    bound-by), whether they are host-bound and whether they fit. --priorities: which fixes would recover
    the most time across the fleet, each priced by the model as it would run (docs/fleet.md). --cluster C
    --gpus N: every zoo LLM at its searched best layout on the cluster."""
    from trainperf.fleet import fleet_overlap, fleet_sweep, rank_fixes, read_weights
    from trainperf.model import ExecConfig
    from trainperf.report.fleet_text import render_fleet, render_priorities
    from trainperf.report.progress import track
    from trainperf.workloads import list_workloads

    if cluster is not None or gpus is not None:
        _cluster(pattern, cluster, gpus, seq, json_out=json_out, refused={
            "--db": db, "--html": html, "--gpu": gpu, "--priorities": priorities or None, "--weights": weights,
            "--compile": compile or None, "--cuda-graphs": cuda_graphs or None})
        return
    if (weights is not None or top != 3) and not priorities:
        raise ValueError(f"{'--weights' if weights is not None else '--top'} applies to --priorities; add --priorities")
    w = read_weights(weights) if weights is not None else None
    names = [x.name for x in list_workloads(pattern)]
    if not names:
        raise ValueError(f"no workload matches {pattern!r}; run `trainperf zoo` to see all")
    if w is not None and not set(w) & set(names):
        raise ValueError(f"--weights {weights}: none of its workloads ({', '.join(sorted(w)[:4])}) is selected")
    cfg = ExecConfig(precision=precision, compile=compile, cuda_graphs=cuda_graphs)
    check_db(db)
    if html is not None:
        from trainperf.report.output import check_output

        check_output(html, flag="--html")  # before the captures
    res = fleet_sweep(track(names, "capturing and predicting", total=len(names)), gpu or ["H100-SXM"], cfg,
                      flavor=flavor, fixes=priorities)
    df = res.table
    store(db, "fleet", df, hardware=",".join(gpu or ["H100-SXM"]), args={
        "pattern": pattern, "gpu": gpu, "flavor": flavor, "precision": precision, "compile": compile,
        "cuda_graphs": cuda_graphs})
    if html is not None:
        from trainperf.report.fleet_html import render_fleet_html
        from trainperf.report.output import write_text_atomic

        page = render_fleet_html(df, rank_fixes(res.fixes, w, top) if priorities else None,
                                 fleet_overlap(res.fixes, w) if priorities else None)
        replaced = write_text_atomic(html, page, flag="--html")
        typer.echo(f"{'replaced' if replaced else 'wrote'} {html}", err=True)
    if json_out and priorities:
        import orjson

        together, alone = fleet_overlap(res.fixes, w)
        print(orjson.dumps({"rows": df.to_dicts(), "fixes": res.fixes.to_dicts(),
                            "priorities": rank_fixes(res.fixes, w, top).to_dicts(),
                            "together_share": together, "alone_share": alone}, option=orjson.OPT_INDENT_2).decode())
    else:
        render_fleet(df, json_out=json_out)
        if priorities:
            render_priorities(rank_fixes(res.fixes, w, top), *fleet_overlap(res.fixes, w), weighted=w is not None)
    failed = df.filter(df["status"] == "error").height
    if failed:  # the table is printed either way; scripts must still see that rows failed
        typer.echo(f"error: {failed} of {df.height} rows failed (status error; see their reason)", err=True)
        raise typer.Exit(1)


def _cluster(pattern: str | None, cluster: str | None, gpus: int | None, seq: int, *, json_out: bool,
             refused: dict[str, object]) -> None:
    """fleet --cluster C --gpus N: the zoo LLMs at their searched best layouts."""
    from trainperf.fleet.cluster import cluster_fleet
    from trainperf.parallel.api import MAX_GPUS, MAX_SEQ, resolve_cluster
    from trainperf.parallel.zoo_arch import load_table
    from trainperf.report.fleet_text import render_cluster_fleet
    from trainperf.report.progress import track
    from trainperf.workloads import list_workloads

    if cluster is None or gpus is None:
        raise ValueError("--cluster and --gpus go together: e.g. --cluster dgx-h100 --gpus 1024")
    bad = [k for k, v in refused.items() if v]
    if bad:
        raise ValueError(f"{bad[0]} applies to the single-GPU fleet, not to --cluster; drop one")
    if not 1 <= gpus <= MAX_GPUS or not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"--gpus {gpus} / --seq {seq}: use 1..{MAX_GPUS:,} GPUs and 1..{MAX_SEQ:,} tokens")
    spec = resolve_cluster(cluster)
    table = load_table()
    names = [w.name for w in list_workloads(pattern) if w.name in table]
    if not names:
        raise ValueError(f"no zoo LLM matches {pattern!r}; the cluster fleet covers the zoo's language models")
    df = cluster_fleet(track(names, "searching layouts", total=len(names)), spec, gpus, seq=seq)
    render_cluster_fleet(df, json_out=json_out)

