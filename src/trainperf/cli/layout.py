"""The layout flags `simulate` and `export chakra` share (one definition of each option), and the one
call that turns them into a feasible plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from trainperf.cli.plan import CLUSTER_HELP, FRAMEWORK_HELP

if TYPE_CHECKING:
    from trainperf.parallel.api import PlanRequest
    from trainperf.parallel.estimate import PlanEstimate

Model = Annotated[str, typer.Argument(help="zoo LLM name, e.g. llama3.1-70b (see `trainperf zoo`)")]
Cluster = Annotated[str, typer.Option(help=CLUSTER_HELP)]
Gpus = Annotated[int, typer.Option(help="GPUs in the job")]
Tp = Annotated[int, typer.Option(help="tensor parallel, with sequence parallel")]
Pp = Annotated[int, typer.Option(help="pipeline stages")]
Cp = Annotated[int, typer.Option(help="context parallel")]
Ep = Annotated[int, typer.Option(help="expert parallel (MoE)")]
Vp = Annotated[int, typer.Option(help="virtual stages per pipeline rank (interleaved 1F1B)")]
Mbs = Annotated[int, typer.Option(help="micro-batch size in sequences")]
Gbs = Annotated[int | None, typer.Option(help="global batch in sequences (default one micro-batch per rank)")]
Seq = Annotated[int | None, typer.Option(help="sequence length (default 8192 or the model's positions)")]
Zero = Annotated[str | None, typer.Option(help="ddp | zero1 | zero2 | zero3 (default zero1, or the --framework's)")]
RecomputeOpt = Annotated[str, typer.Option(help="none | selective | full | auto (least that fits)")]
PrecisionOpt = Annotated[str, typer.Option(help="bf16 | fp16 | fp8 | fp4 | auto")]
GpuSwap = Annotated[str | None, typer.Option(help="swap the cluster's GPU part, e.g. H200")]
TpOverlap = Annotated[bool | None, typer.Option("--tp-overlap/--no-tp-overlap",
                                                 help="TP comm overlapped with GEMMs (default on, or the --framework's)")]
FrameworkOpt = Annotated[str | None, typer.Option(help=FRAMEWORK_HELP)]


def feasible_layout(model: str, **flags: object) -> tuple[PlanRequest, PlanEstimate]:
    """plan_from_args of the flags, evaluated (with --recompute auto: the least recomputation that fits);
    ValueError with the reason when the layout does not run."""
    from trainperf.parallel.api import plan_from_args, predict_request
    from trainperf.parallel.estimate import Infeasible

    req = plan_from_args(model, **flags)  # type: ignore[arg-type]
    est = predict_request(req)
    if isinstance(est, Infeasible):
        raise ValueError(f"{req.plan.describe()} does not run: {est.reason}")
    return req, est
