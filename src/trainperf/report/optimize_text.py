"""Terminal and JSON rendering of `trainperf optimize` (OptimizeResult): the ranked table, the winning recipe
as code and as JSON."""

from __future__ import annotations

from trainperf.optimize.device import Candidate, OptimizeResult, Status
from trainperf.optimize.knobs import Compile, Knobs, OptimizerImpl, Precision, Sdpa
from trainperf.report.units import gib, seconds


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def recipe_snippet(k: Knobs, device: str = "cuda") -> str:
    """The winning knobs as the few lines a training script adds around its own step."""
    dev = device.split()[0].split(":")[0]
    lines = ["import torch"]
    if k.precision is Precision.TF32:
        lines += ['torch.set_float32_matmul_precision("high")', "torch.backends.cudnn.allow_tf32 = True"]
    if k.channels_last:
        lines += ["model = model.to(memory_format=torch.channels_last)",
                  "images = images.contiguous(memory_format=torch.channels_last)"]
    if k.precision is Precision.FP8:
        lines += ["from torchao.float8 import convert_to_float8_training",
                  "convert_to_float8_training(model)  # linears with both dims divisible by 16"]
    if k.checkpointing:
        lines += ["# wrap each block: block.forward = functools.partial(torch.utils.checkpoint.checkpoint, "
                  "block.forward, use_reentrant=False)"]
    if k.optimizer is not OptimizerImpl.RECIPE:
        flags = {"fused": "fused=True", "foreach": "foreach=True", "forloop": "fused=False, foreach=False"}
        lines += [f"optimizer = torch.optim.AdamW(model.parameters(), ..., {flags[k.optimizer.value]})"]
    if k.compile is not Compile.NONE:
        lines += [f'model = torch.compile(model, mode="{k.compile_mode}")']
    if k.micro_batch is not None:
        lines += [f"# micro-batch size {k.micro_batch}"]
    body = "loss = loss_fn(model, batch)"
    if k.precision in (Precision.BF16, Precision.FP8):
        body = f'with torch.autocast("{dev}", dtype=torch.bfloat16):\n    {body}'
    if k.sdpa is not Sdpa.DEFAULT:
        names = {Sdpa.FLASH: "FLASH_ATTENTION", Sdpa.EFFICIENT: "EFFICIENT_ATTENTION", Sdpa.CUDNN: "CUDNN_ATTENTION",
                 Sdpa.MATH: "MATH"}
        lines += ["from torch.nn.attention import SDPBackend, sdpa_kernel"]
        body = f"with sdpa_kernel([SDPBackend.{names[k.sdpa]}]):\n" + "\n".join(
            "    " + ln for ln in (body + "\n" + "loss.backward()").splitlines())
    else:
        body += "\nloss.backward()"
    return "\n".join([*lines, body, "optimizer.step()", "optimizer.zero_grad(set_to_none=True)"])


def _row(c: Candidate, rank: str) -> list[str]:
    return [rank, c.knobs.label(), seconds(c.measured_step_s) if c.measured_step_s else "-", _x(c.measured_speedup),
            _x(c.predicted_speedup), seconds(c.compile_s) if c.compile_s else "-",
            gib(c.peak_memory_bytes) if c.peak_memory_bytes else "-", c.status.value, c.reason]


def render_optimize(res: OptimizeResult, *, json_out: bool = False) -> None:
    if json_out:
        import orjson

        print(orjson.dumps(res.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    import sys

    from rich.console import Console
    from rich.table import Table

    con = Console() if sys.stdout.isatty() else Console(width=200)
    t = Table(title=f"trainperf optimize: {res.workload} on {res.device} ({res.elapsed_s:.0f} s)",
              title_justify="left")
    for col in ("#", "knobs", "step", "measured", "predicted", "compile", "peak mem", "status", "reason"):
        t.add_column(col, justify="left" if col in ("knobs", "status", "reason") else "right",
                     overflow="fold")
    for i, c in enumerate(res.ranked(), 1):
        t.add_row(*_row(c, str(i)))
    for c in res.candidates:
        if c.status is not Status.OK:
            t.add_row(*_row(c, ""))
    con.print(t)
    con.print(f"speedups are {res.unit}s/s over the eager fp32 baseline ({seconds(res.baseline.measured_step_s or 0)}"
              f"); candidates were ordered {res.order}", highlight=False)
    best = res.best
    con.print(f"\nbest: {best.knobs.label()} ({_x(best.measured_speedup)})", highlight=False)
    import orjson

    print(recipe_snippet(best.knobs, res.device))
    print(orjson.dumps(best.knobs.to_dict()).decode())
