"""`trainperf plan`: one parallel layout of a model on a cluster (step time, throughput, MFU, memory and
time breakdown), or with --search the fastest layouts that fit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from trainperf.parallel.api import PlanRequest

CLUSTER_HELP = ("dgx-a100, dgx-h100, dgx-b200, gb200-nvl72, gb300-nvl72, a100-roce-1600, grand-teton-h100, "
                "or a cluster .toml")
FRAMEWORK_HELP = ("the training stack's defaults (attention kernels, fusion, TP overlap, fused loss, ZeRO-3 "
                  "gathers, FSDP resharding, sharding): megatron-core, megatron-lm, megatron-deepspeed, "
                  "torchtitan, llm-foundry, flash-attn-training, hf-trainer; flags given explicitly win")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("plan")(plan_cmd)


def plan_cmd(
    model: Annotated[str, typer.Argument(help="zoo LLM name, e.g. llama3.1-405b (see `trainperf zoo`)")],
    cluster: Annotated[str, typer.Option(help=CLUSTER_HELP)] = "dgx-h100",
    gpus: Annotated[int, typer.Option(help="GPUs in the job")] = 8,
    tp: Annotated[int | None, typer.Option(help="tensor parallel, with sequence parallel (default 1; with "
                                                "--search: searched unless given)")] = None,
    pp: Annotated[int | None, typer.Option(help="pipeline stages (default 1)")] = None,
    cp: Annotated[int | None, typer.Option(help="context parallel (default 1)")] = None,
    ep: Annotated[int | None, typer.Option(help="expert parallel, MoE (default 1)")] = None,
    etp: Annotated[int | None, typer.Option(help="expert tensor parallel (0 = tp; default 0)")] = None,
    vp: Annotated[int | None, typer.Option(help="virtual stages per pipeline rank, interleaved 1F1B (default 1)")] = None,
    mbs: Annotated[int | None, typer.Option(help="micro-batch size in sequences (default 1)")] = None,
    gbs: Annotated[int | None, typer.Option(help="global batch size in sequences; default one micro-batch per "
                                                 "rank (required with --search)")] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length (default 8192, or the model's positions "
                                                 "when fewer)")] = None,
    zero: Annotated[str | None, typer.Option(help="ddp | zero1 | zero2 | zero3 (zero3 = FSDP); default zero1")] = None,
    shard_group: Annotated[int, typer.Option(help="HSDP: ranks that shard state (0 = all of dp)")] = 0,
    recompute: Annotated[str, typer.Option(help="none | selective | full | auto (least that fits; with "
                                                "--search: all three)")] = "auto",
    precision: Annotated[str, typer.Option(help="bf16 | fp16 | fp8 | fp4 | auto (fp8 where the GPU has it; "
                                                "with --search: bf16 and fp8)")] = "bf16",
    gpu: Annotated[str | None, typer.Option(help="swap the cluster's GPU part, e.g. H200")] = None,
    scale: Annotated[str | None, typer.Option(
        help="hypothetical hardware: scale the cluster GPU's numbers, e.g. 'bf16=2,hbm_bw=1.5' (keys as in "
             "`trainperf predict --scale`)")] = None,
    tp_overlap: Annotated[bool | None, typer.Option(
        "--tp-overlap/--no-tp-overlap", help="TP comm overlapped with GEMMs (default on; --search tries both)")] = None,
    moe_cuda_graphs: Annotated[bool, typer.Option(
        "--moe-cuda-graphs", help="MoE router/dispatch in CUDA graphs with a fused grouped GEMM: no per-layer "
                                  "token-count sync or per-expert launches")] = False,
    ep_dispatcher: Annotated[str, typer.Option(
        help="alltoall (NCCL all-to-all) | hierarchical (DeepEP / HybridEP: one network copy per destination "
             "NVLink domain)")] = "alltoall",
    attention: Annotated[str | None, typer.Option(help="attention kernels: flash2 or cudnn (Transformer Engine); "
                                                       "default flash2, or the --framework's")] = None,
    framework: Annotated[str | None, typer.Option(help=FRAMEWORK_HELP)] = None,
    search: Annotated[bool, typer.Option("--search", help="search every layout (tp, pp, vp, cp, ep, etp, dp, mbs, "
                                                          "zero, recompute, precision, TP overlap) and print "
                                                          "the fastest that fit; given axes stay fixed")] = False,
    top: Annotated[int, typer.Option(min=1, max=1000, help="with --search: layouts to print")] = 5,
    tokens: Annotated[float | None, typer.Option(
        help="with --search: tokens to train (e.g. 15e12): prints the time to train and GPU-hours")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON (with --search: the fixed search JSON)")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML page here (where the "
                                                             "step and the memory go; with --search the top "
                                                             "layouts and infeasible counts)")] = None,
) -> None:
    """Evaluate one parallel layout of a model on a cluster: step time, tokens/s/GPU, model TFLOP/s/GPU,
    MFU, memory per GPU with its parts, and where the step goes (compute by kind, exposed communication by
    collective and axis, pipeline bubble, optimizer). A layout that does not fit prints infeasible with
    the numbers; a layout a neighbour beats by more than 10% names that neighbour. With --search, every
    layout of the job is evaluated and the fastest --top are printed with what separates them."""
    if html is not None:
        from trainperf.report.output import check_output

        check_output(html, flag="--html")  # before the work
    if search:
        stack, tp_choices = _framework_search(framework, attention=attention, tp_overlap=tp_overlap)
        _search(model, html=html, cluster=cluster, gpus=gpus, gbs=gbs, seq=seq, gpu=gpu, scale=scale, top=top,
                tokens=tokens, json_out=json_out, recompute=recompute, precision=precision, zero=zero,
                tp_overlap=tp_choices, fixed={"tp": tp, "pp": pp, "cp": cp, "ep": ep, "etp": etp, "vp": vp,
                                              "mbs": mbs},
                base={"shard_group": shard_group, "moe_cuda_graphs": moe_cuda_graphs,
                      "ep_dispatcher": ep_dispatcher, **stack})
        return
    if tokens is not None or top != 5:
        raise ValueError(f"{'--tokens' if tokens is not None else '--top'} applies to --search only; add --search")
    from trainperf.parallel.api import plan_from_args

    req = plan_from_args(model, cluster=cluster, gpus=gpus, tp=tp or 1, pp=pp or 1, cp=cp or 1, ep=ep or 1,
                         etp=etp or 0, vp=vp or 1, mbs=mbs or 1, gbs=gbs, seq=seq, zero=zero,
                         shard_group=shard_group, recompute=recompute, precision=precision, gpu=gpu, scale=scale,
                         tp_overlap=tp_overlap, attention=attention, moe_cuda_graphs=moe_cuda_graphs,
                         ep_dispatcher=ep_dispatcher, framework=framework)
    show_plan(req, json_out=json_out, html=html)


def _framework_search(framework: str | None, *, attention: str | None,
                      tp_overlap: bool | None) -> tuple[dict[str, object], tuple[bool, ...]]:
    """The plan fields a search keeps fixed (the --framework's defaults, then the flags given) and the TP
    overlap values it tries: both where the stack can overlap TP communication, else off."""
    from trainperf.parallel.framework import preset

    stack: dict[str, object] = {"fused_kernels": True, "attention": "flash2"}
    can_overlap = True
    if framework is not None:
        fields = preset(framework).plan_fields()
        can_overlap = bool(fields.pop("tp_comm_overlap"))
        fields.pop("reshard_per_microbatch")  # depends on each candidate's pp: the preset's plain default
        stack.update(fields)
    if attention is not None:
        stack["attention"] = attention
    if tp_overlap is not None:
        return stack, (tp_overlap,)
    return stack, (False, True) if can_overlap else (False,)


def _write_html(html: Path, page: str) -> None:
    from trainperf.report.output import write_text_atomic

    replaced = write_text_atomic(html, page, flag="--html")
    typer.echo(f"{'replaced' if replaced else 'wrote'} {html}", err=True)


def show_plan(req: PlanRequest, *, json_out: bool, html: Path | None = None) -> None:
    """Evaluate a PlanRequest, look one step around it, render (shared with `predict --cluster`)."""
    from trainperf.optimize.search import better_neighbour
    from trainperf.parallel.api import predict_request
    from trainperf.parallel.estimate import PlanEstimate
    from trainperf.report.plan_text import render_plan

    est = predict_request(req)

    base = est.plan if isinstance(est, PlanEstimate) else req.plan
    hint = better_neighbour(req.arch, base, req.cluster, est, sustained=req.sustained)
    render_plan(est, json_out=json_out, suggestion=hint)
    if html is not None:
        from trainperf.report.plan_html import render_plan_html

        _write_html(html, render_plan_html(est, suggestion=hint))


def _search(model: str, *, html: Path | None, cluster: str, gpus: int, gbs: int | None, seq: int | None, gpu: str | None,
            scale: str | None, top: int, tokens: float | None, json_out: bool, recompute: str, precision: str,
            zero: str | None, tp_overlap: tuple[bool, ...], fixed: dict[str, int | None], base: dict[str, object]) -> None:
    from trainperf.optimize.search import search_layouts
    from trainperf.optimize.space import SearchSpace
    from trainperf.parallel.api import check_job, default_seq, resolve_arch, resolve_cluster
    from trainperf.parallel.plan import Recompute, Sharding
    from trainperf.report.plan_text import render_search
    from trainperf.vocab import choice

    if gbs is None:
        raise ValueError("--search needs --gbs (the global batch in sequences): the batch is the job, not a knob")
    if tokens is not None and not (0 < tokens < 1e18):
        raise ValueError(f"--tokens {tokens:g}: must be a positive token count below 1e18, e.g. 15e12")
    arch = resolve_arch(model)
    spec = resolve_cluster(cluster, gpu=gpu, scale=scale)
    seq = default_seq(model, seq)
    check_job(model, gpus=gpus, seq=seq, gbs=gbs)
    rcs = tuple(Recompute) if recompute == "auto" else (choice(Recompute, recompute, "--recompute", extra=("auto",)),)
    zeros = tuple(Sharding) if zero is None else (choice(Sharding, zero, "--zero"),)
    space = SearchSpace(gpus=gpus, gbs=gbs, seq=seq, precision=precision, recompute=rcs, zero=zeros,
                        tp_overlap=tp_overlap, base=tuple(base.items()),
                        **{k: (v,) for k, v in fixed.items() if v is not None})  # type: ignore[arg-type]
    if precision not in ("bf16", "fp16", "fp8", "fp4", "auto"):
        raise ValueError(f"--precision {precision!r}: choose one of bf16, fp16, fp8, fp4, auto")
    res = search_layouts(arch, space, spec, top=top)
    render_search(res, json_out=json_out, tokens=tokens)
    if html is not None:
        from trainperf.report.plan_html import render_search_html

        _write_html(html, render_search_html(res))
