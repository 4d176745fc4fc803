"""`trainperf predict WORKLOAD --gpu NAME` and `trainperf calibrate TRACES...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("predict")(predict_cmd)
    app.command("calibrate")(calibrate_cmd)


def predict_cmd(
    workload: Annotated[str, typer.Argument(
        help="zoo workload name, an OpGraph .parquet from `trainperf capture -o`, or path/to/file.py:function")],
    gpu: Annotated[str | None, typer.Option("--gpu", help="catalog GPU name or alias (`trainperf hw list`), or a .toml "
                                                   "(default H100-SXM; with --cluster: swap the cluster's GPU)")] = None,
    flavor: Annotated[str, typer.Option(help="full or tiny")] = "full",
    batch: Annotated[int | None, typer.Option(help="micro-batch size (default: the workload's canonical)")] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length in tokens")] = None,
    image_size: Annotated[int | None, typer.Option(help="image side in pixels")] = None,
    precision: Annotated[str, typer.Option(help="bf16, fp16, fp32, tf32 or fp8 (fp8 linears)")] = "bf16",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile: fused elementwise/norm chains")] = False,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="CUDA graphs: no per-kernel launch cost")] = False,
    attention: Annotated[str, typer.Option(help="attention kernel family: flash2 (FlashAttention-2, PyTorch SDPA) "
                                                "or cudnn (cuDNN / Transformer Engine fused attention)")] = "flash2",
    scale: Annotated[str | None, typer.Option(
        help="hypothetical hardware: scale the GPU's numbers, e.g. 'hbm_bw=2,bf16=1.5' (keys: hbm_bw, "
             "hbm_capacity, l2, nvlink_bw, pcie_bw, tdp, sm_count, fp64..fp4, flops)")] = None,
    calibration: Annotated[Path | None, typer.Option(help="calibration TOML from `trainperf calibrate`")] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="convolutions on channels-last (NHWC) "
                                                "tensors: no NCHW<->NHWC transposes around tensor-core convs")] = False,
    burst: Annotated[bool, typer.Option("--burst", help="price compute at burst clocks, as a short profiler "
                                        "trace or a microbenchmark runs (default: clocks sustained through a "
                                        "long training run)")] = False,
    kernels: Annotated[str | None, typer.Option(
        help="as-written (the captured ops) or production (unfused attention as flash attention, dense "
             "embedding-table updates as TorchRec's fused rowwise sparse optimizer, naive Mamba-2 / gated-delta "
             "scans as the fused mamba_ssm / fla kernels). Default: production for zoo workloads (the step as "
             "written is shown beside it), as-written for your own models")] = None,
    ops: Annotated[bool, typer.Option("--ops", help="also print the per-op table (top ops by time)")] = False,
    top: Annotated[int, typer.Option(min=1, help="rows of the per-op table")] = 25,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML page (step by "
                                                            "category, roofline of the ops, top ops)")] = None,
    cluster: Annotated[str | None, typer.Option(
        help="predict on a cluster with a parallel layout instead of one GPU: dgx-a100, dgx-h100, dgx-b200, "
             "gb200-nvl72, gb300-nvl72, a100-roce-1600, grand-teton-h100 or a cluster .toml "
             "(same as `trainperf plan`)")] = None,
    gpus: Annotated[int, typer.Option(help="with --cluster: GPUs in the job")] = 8,
    tp: Annotated[int, typer.Option(help="with --cluster: tensor parallel (with sequence parallel)")] = 1,
    pp: Annotated[int, typer.Option(help="with --cluster: pipeline stages")] = 1,
    cp: Annotated[int, typer.Option(help="with --cluster: context parallel")] = 1,
    ep: Annotated[int, typer.Option(help="with --cluster: expert parallel")] = 1,
    vp: Annotated[int, typer.Option(help="with --cluster: virtual pipeline stages per rank")] = 1,
    mbs: Annotated[int | None, typer.Option(help="with --cluster: micro-batch size (default --batch or 1)")] = None,
    gbs: Annotated[int | None, typer.Option(help="with --cluster: global batch size in sequences")] = None,
    zero: Annotated[str, typer.Option(help="with --cluster: ddp | zero1 | zero2 | zero3 (FSDP)")] = "zero1",
    recompute: Annotated[str, typer.Option(help="with --cluster: none | selective | full | auto")] = "auto",
) -> None:
    """Predict one training step on a GPU (no GPU needed): step time, throughput, MFU, per-category time
    and speed of light, bound-by, peak memory and whether it fits. With --cluster and a layout
    (--gpus --tp --pp --cp --ep --mbs --gbs --zero), predict the step on a cluster instead."""
    if html is not None:
        from trainperf.report.output import check_output

        check_output(html, flag="--html")  # before the work
    if cluster is not None:
        from trainperf.cli.plan import show_plan
        from trainperf.parallel.api import plan_from_args

        # every single-GPU flag applies on the cluster path or is refused: none is dropped without a word
        refused = {"--compile": (compile, "the cluster model always prices fused elementwise/norm chains "
                                          "(Transformer Engine / torch.compile, as Megatron runs them)"),
                   "--cuda-graphs": (cuda_graphs, "the cluster model has CUDA graphs for MoE layers only "
                                                  "(`trainperf plan --moe-cuda-graphs`)"),
                   "--calibration": (calibration is not None, "the cluster model's shared parameters "
                                     "(parallel/params.py) are fitted with the packaged calibration"),
                   "--ops": (ops, "the per-op table is single-GPU; the cluster path prints time by part"),
                   "--top": (top != 25, "it sizes the per-op table (--ops), single-GPU only"),
                   "--channels-last": (channels_last, "the planner covers decoder LLMs, which have no convolutions"),
                   "--flavor": (flavor != "full", "the planner prices the full-size architecture"),
                   "--image-size": (image_size is not None, "the planner covers decoder LLMs (no images)"),
                   "--kernels": (kernels == "as-written", "the planner's op tables are production kernels")}
        for flag, (given, why) in refused.items():
            if given:
                raise ValueError(f"{flag} does not apply with --cluster: {why}; drop it")
        req = plan_from_args(workload, cluster=cluster, gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, vp=vp,
                             mbs=mbs or batch or 1, gbs=gbs, seq=seq, zero=zero, recompute=recompute,
                             precision=precision, gpu=gpu, scale=scale, attention=attention, sustained=not burst)
        show_plan(req, json_out=json_out, html=html)
        return
    gpu = gpu or "H100-SXM"
    from trainperf.hardware import GPUSpec, get_gpu
    from trainperf.model import ExecConfig, predict_workload
    from trainperf.report.predict_text import render_predict
    from trainperf.report.progress import status

    cfg = ExecConfig(precision=precision, compile=compile, cuda_graphs=cuda_graphs, attention=attention,
                     channels_last=channels_last, sustained=not burst, calibration=str(calibration) if calibration else None)
    spec: str | GPUSpec = gpu
    if scale:
        factors: dict[str, float] = {}
        for item in scale.split(","):
            key, sep, val = item.partition("=")
            try:
                factors[key.strip()] = float(val)
            except ValueError:
                raise ValueError(f"--scale {item!r}: expected KEY=FACTOR, e.g. hbm_bw=2") from None
            if not sep:
                raise ValueError(f"--scale {item!r}: expected KEY=FACTOR, e.g. hbm_bw=2")
        spec = get_gpu(gpu).scaled(**factors)
    with status(f"predicting {workload} on {gpu}"):
        est = predict_workload(workload, spec, cfg, flavor=flavor, batch=batch, seq=seq, image_size=image_size,
                               kernels=kernels)
    if html is not None:
        from trainperf.report.output import write_text_atomic
        from trainperf.report.predict_html import render_predict_html

        page = render_predict_html(est, top=top, gpu=spec if isinstance(spec, GPUSpec) else get_gpu(spec))
        replaced = write_text_atomic(html, page, flag="--html")
        typer.echo(f"{'replaced' if replaced else 'wrote'} {html}", err=True)
    render_predict(est, json_out=json_out, ops=ops, top=top)


def calibrate_cmd(
    traces: Annotated[list[Path], typer.Argument(help="Kineto traces recorded with shapes (files or folders)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the calibration TOML here")] = None,
    base: Annotated[Path | None, typer.Option(help="calibration to start from (default: the packaged one)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    check: Annotated[bool, typer.Option("--check", help="fit nothing: price every op of the traces with the "
                                        "calibration (--base, default the packaged one) and report per-op and "
                                        "per-step error")] = False,
    gpu: Annotated[str | None, typer.Option("--gpu", help="with --check: price on this GPU instead of the "
                                            "traces' own (needed for traces without deviceProperties)")] = None,
) -> None:
    """Fit the model's efficiency parameters to measured per-op kernel times of one GPU model."""
    from trainperf.model.calibrate import calibrate
    from trainperf.report.predict_text import render_calibration

    if check:
        from trainperf.model.check import check as check_traces
        from trainperf.report.predict_text import render_check

        if output is not None:
            raise ValueError("--check fits nothing and writes no calibration; drop -o/--output")
        render_check(check_traces(traces, gpu=gpu, calibration=base), json_out=json_out)
        return
    if gpu is not None:
        raise ValueError("--gpu applies to --check only (a fit uses the traces' own GPU); drop --gpu or add --check")

    if output is not None:
        from trainperf.report.output import check_output

        check_output(output, inputs=[*traces, *([base] if base else [])])  # before the fit
    replaced = output is not None and output.exists()
    res = calibrate(traces, out=output, base=base)
    if replaced:
        typer.echo(f"replaced {output}", err=True)
    render_calibration(res, out=str(output) if output else None, json_out=json_out)
