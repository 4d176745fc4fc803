"""`trainperf export`: a simulated training step in other tools' formats (`export chakra`: MLCommons Chakra
execution traces, one per NPU, that ASTRA-sim runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainperf.cli import layout as L

export_app = typer.Typer(
    help="Write a layout's simulated training step in other tools' formats (chakra: ASTRA-sim).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("chakra")
def chakra_cmd(
    model: L.Model,
    out: Annotated[Path, typer.Option("-o", "--output", help="folder for {prefix}.{rank}.et (one per NPU) and "
                                                             "comm_group.json; created")],
    cluster: L.Cluster = "dgx-h100",
    gpus: Annotated[int, typer.Option(help="GPUs in the job (= NPUs = files written)")] = 8,
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
    steps: Annotated[int, typer.Option(min=1, max=100, help="training steps in each trace")] = 1,
    prefix: Annotated[str, typer.Option(help="file name prefix: ASTRA-sim's --workload-configuration=DIR/PREFIX")]
    = "trainperf",
    max_ranks: Annotated[int, typer.Option(min=1, help="refuse jobs with more GPUs: every NPU is a file holding its "
                                                      "stage's whole step")] = 4096,
) -> None:
    """Export a layout's training step as MLCommons Chakra execution traces for ASTRA-sim: one
    `PREFIX.RANK.et` per GPU and `comm_group.json` (communicator groups, Megatron rank order: tp, cp, dp, pp).
    The step is the one `trainperf simulate` runs (same flags, same per-op costs and schedule): compute nodes
    carry duration_micros (measured mode) and num_ops / tensor_size (FLOPs and HBM bytes, for ASTRA-sim's
    roofline mode); collectives carry comm_type, comm_size and their group (pg_name); pipeline transfers are
    send/receive pairs with peers and tags. Needs `pip install 'trainperf[chakra]'`. See docs/simulators.md
    for the ASTRA-sim command line."""
    from trainperf.export.chakra import require_chakra, write_chakra
    from trainperf.simulate.api import simulate

    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: is a file; give a folder for the per-rank traces")
    require_chakra()  # before the simulation: the install hint first
    if gpus > max_ranks:  # before any work
        raise ValueError(f"--gpus {gpus} is above --max-ranks {max_ranks}: ASTRA-sim reads one .et file per NPU, "
                         "each holding its stage's whole step; raise --max-ranks to write them anyway")
    req, est = L.feasible_layout(model, cluster=cluster, gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, vp=vp, mbs=mbs,
                                 gbs=gbs, seq=seq, zero=zero, recompute=recompute, precision=precision, gpu=gpu,
                                 tp_overlap=tp_overlap, framework=framework)
    # simulate()'s graph: durations as built, without the interference slowdown simulate() charges on the
    # overlap it measured (a system simulator models overlap and its contention itself)
    res = simulate(req.arch, est.plan, req.cluster, steps=steps)
    ex = write_chakra(res.timeline.graph, out, prefix=prefix, max_ranks=max_ranks)
    nodes = "/".join(str(n) for n in ex.nodes_per_stage)
    typer.echo(f"wrote {len(ex.files)} trace files {ex.workload}.{{0..{len(ex.files) - 1}}}.et ({nodes} nodes per "
               f"rank by stage) and {ex.comm_groups} ({ex.groups} groups): {est.plan.describe()}, simulated step "
               f"{res.step_time_s * 1e3:.1f} ms")
    typer.echo(f"run: AstraSim_Analytical_Congestion_Unaware --workload-configuration={ex.workload} "
               f"--comm-group-configuration={ex.comm_groups} --system-configuration=SYSTEM.json "
               "--network-configuration=NETWORK.yml --remote-memory-configuration=MEMORY.json (docs/simulators.md)")
