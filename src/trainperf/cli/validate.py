"""`trainperf validate` (published measurements vs predictions) and `trainperf plan` (one parallel layout
of a model on a cluster: step time, throughput, MFU, memory and time breakdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("validate")(validate_cmd)
    app.command("plan")(plan_cmd)


def validate_cmd(
    csv: Annotated[Path | None, typer.Argument(
        help="CSV with the columns of the packaged published_training_perf.csv (default: that file, 507 "
             "published runs; its README names each source)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write per-row predictions here (CSV)")] = None,
) -> None:
    """Predict every row of a published-measurements CSV from its architecture, GPU, layout, batch,
    recompute and precision; print median and p90 |error| of tokens/s/GPU overall and by source, GPU and
    architecture, and the share of rows supported. OUT.csv columns: id, predicted_tokens_per_s_per_gpu,
    predicted_step_time_s, predicted_mfu, predicted_mem_gib, status (ok | infeasible | unsupported), reason."""
    from trainperf.parallel.validate import validate_csv, write_output
    from trainperf.report.output import check_output, write_atomic
    from trainperf.report.plan_text import render_validation

    if csv is None:
        from trainperf.data import PUBLISHED_CSV

        csv = PUBLISHED_CSV
    if output is not None:
        check_output(output, inputs=[csv])  # before the work: never overwrite the input
    result, summary = validate_csv(csv)
    if output is not None and write_atomic(output, lambda tmp: write_output(result, tmp)):
        typer.echo(f"replaced {output}", err=True)
    render_validation(summary, str(output) if output else None)


def plan_cmd(
    model: Annotated[str, typer.Argument(help="zoo LLM name, e.g. llama3.1-405b (see `trainperf zoo`)")],
    cluster: Annotated[str, typer.Option(help="dgx-a100, dgx-h100, dgx-b200, gb200-nvl72, gb300-nvl72, "
                                              "a100-roce-1600, grand-teton-h100, or a cluster .toml")] = "dgx-h100",
    gpus: Annotated[int, typer.Option(help="GPUs in the job")] = 8,
    tp: Annotated[int, typer.Option(help="tensor parallel (with sequence parallel)")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline stages")] = 1,
    cp: Annotated[int, typer.Option(help="context parallel")] = 1,
    ep: Annotated[int, typer.Option(help="expert parallel (MoE)")] = 1,
    etp: Annotated[int, typer.Option(help="expert tensor parallel (0 = tp)")] = 0,
    vp: Annotated[int, typer.Option(help="virtual stages per pipeline rank (interleaved 1F1B)")] = 1,
    mbs: Annotated[int, typer.Option(help="micro-batch size (sequences)")] = 1,
    gbs: Annotated[int | None, typer.Option(help="global batch size (sequences); default one micro-batch per rank")] = None,
    seq: Annotated[int, typer.Option(help="sequence length")] = 8192,
    zero: Annotated[str, typer.Option(help="ddp | zero1 | zero2 | zero3 (zero3 = FSDP)")] = "zero1",
    shard_group: Annotated[int, typer.Option(help="HSDP: ranks that shard state (0 = all of dp)")] = 0,
    recompute: Annotated[str, typer.Option(help="none | selective | full | auto (least that fits)")] = "auto",
    precision: Annotated[str, typer.Option(help="bf16 | fp16 | fp8 | fp4")] = "bf16",
    gpu: Annotated[str | None, typer.Option(help="swap the cluster's GPU part, e.g. H200")] = None,
    tp_overlap: Annotated[bool, typer.Option("--tp-overlap/--no-tp-overlap", help="TP comm overlapped with GEMMs")] = True,
    moe_cuda_graphs: Annotated[bool, typer.Option(
        "--moe-cuda-graphs", help="MoE router/dispatch in CUDA graphs with a fused grouped GEMM: no per-layer "
                                  "token-count sync or per-expert launches")] = False,
    ep_dispatcher: Annotated[str, typer.Option(
        help="alltoall (NCCL all-to-all) | hierarchical (DeepEP / HybridEP: one network copy per destination "
             "NVLink domain)")] = "alltoall",
    json_out: Annotated[bool, typer.Option("--json", help="print the estimate as JSON")] = False,
) -> None:
    """Evaluate one parallel layout of a model on a cluster: step time, tokens/s/GPU, model TFLOP/s/GPU,
    MFU, memory per GPU with its parts, and where the step goes (compute by kind, exposed communication by
    collective and axis, pipeline bubble, optimizer). A layout that does not fit prints infeasible with
    the numbers."""
    from trainperf.parallel.api import predict_plan_auto
    from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding
    from trainperf.report.plan_text import render_plan
    from trainperf.vocab import choice

    sharding = choice(Sharding, zero, "--zero")
    rc = Recompute.NONE if recompute == "auto" else choice(Recompute, recompute, "--recompute", extra=("auto",))
    dp = gpus // max(1, tp * pp * cp)
    plan = ParallelPlan(gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, vp=vp, mbs=mbs,
                        gbs=gbs if gbs is not None else mbs * max(dp, 1), seq=seq, sharding=sharding,
                        shard_group=shard_group, recompute=rc,
                        precision=precision, tp_comm_overlap=tp_overlap, fused_kernels=True,
                        moe_cuda_graphs=moe_cuda_graphs, ep_dispatcher=ep_dispatcher)
    est = predict_plan_auto(model, plan, cluster, gpu=gpu, auto_recompute=recompute == "auto")
    render_plan(est, json_out=json_out)
