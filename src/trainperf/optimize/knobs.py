"""Single-device knobs: one candidate's settings, whether each applies here, and the candidate list.

No torch at import: the list is built from what the capture and the device report (``Context``), so it can
be tested and priced without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from trainperf.model.config import ExecConfig


class Precision(StrEnum):
    FP32 = "fp32"
    TF32 = "tf32"
    """fp32 tensors, TF32 tensor-core matmuls/convs (torch.set_float32_matmul_precision("high"), cudnn.allow_tf32)."""
    BF16 = "bf16"
    """bf16 autocast around the forward; fp32 master weights and optimizer state."""
    FP8 = "fp8"
    """torchao float8 training linears (convert_to_float8_training) inside bf16 autocast."""


class Compile(StrEnum):
    NONE = "none"
    DEFAULT = "default"
    MAX_AUTOTUNE = "max-autotune-no-cudagraphs"


class OptimizerImpl(StrEnum):
    RECIPE = "recipe"
    """Whatever the workload's recipe builds (zoo recipes: fused AdamW, torchtitan's default)."""
    FUSED = "fused"
    FOREACH = "foreach"
    FORLOOP = "forloop"
    """One parameter at a time (foreach=False, fused=False): PyTorch's fallback implementation."""


class Sdpa(StrEnum):
    DEFAULT = "default"
    """PyTorch's own choice among the backends the inputs allow."""
    FLASH = "flash"
    EFFICIENT = "efficient"
    CUDNN = "cudnn"
    MATH = "math"


@dataclass(frozen=True, kw_only=True)
class Knobs:
    """One candidate's settings. The default is the baseline: eager fp32 as the recipe writes it."""

    precision: Precision = Precision.FP32
    compile: Compile = Compile.NONE
    cuda_graphs: bool = False
    """With torch.compile: mode reduce-overhead (default) / max-autotune (max-autotune-no-cudagraphs)."""
    channels_last: bool = False
    optimizer: OptimizerImpl = OptimizerImpl.RECIPE
    micro_batch: int | None = None
    """None: the workload's batch at the chosen flavor."""
    checkpointing: bool = False
    """Activation checkpointing of every block of the model's largest ModuleList (torch.utils.checkpoint)."""
    sdpa: Sdpa = Sdpa.DEFAULT

    def __post_init__(self) -> None:
        if self.cuda_graphs and self.compile is Compile.NONE:
            raise ValueError("cuda_graphs needs torch.compile here (modes reduce-overhead / max-autotune)")
        if self.micro_batch is not None and self.micro_batch < 1:
            raise ValueError(f"micro_batch={self.micro_batch} must be >= 1")

    @property
    def compile_mode(self) -> str | None:
        """The torch.compile mode string, None for eager."""
        if self.compile is Compile.NONE:
            return None
        if self.cuda_graphs:
            return "reduce-overhead" if self.compile is Compile.DEFAULT else "max-autotune"
        return "default" if self.compile is Compile.DEFAULT else self.compile.value

    def to_dict(self) -> dict[str, object]:
        return {"precision": self.precision.value, "compile": self.compile.value, "cuda_graphs": self.cuda_graphs,
                "channels_last": self.channels_last, "optimizer": self.optimizer.value,
                "micro_batch": self.micro_batch, "checkpointing": self.checkpointing, "sdpa": self.sdpa.value}

    def label(self) -> str:
        """Short name: the knobs that differ from the baseline, e.g. ``bf16+compile``."""
        base = Knobs()
        parts = []
        if self.precision is not base.precision:
            parts.append(self.precision.value)
        if self.compile is not Compile.NONE:
            parts.append("compile" if self.compile is Compile.DEFAULT else "compile-max-autotune")
        if self.cuda_graphs:
            parts.append("cuda-graphs")
        if self.channels_last:
            parts.append("channels-last")
        if self.optimizer is not OptimizerImpl.RECIPE:
            parts.append(f"{self.optimizer.value}-optim")
        if self.micro_batch is not None:
            parts.append(f"mbs={self.micro_batch}")
        if self.checkpointing:
            parts.append("checkpointing")
        if self.sdpa is not Sdpa.DEFAULT:
            parts.append(f"sdpa-{self.sdpa.value}")
        return "+".join(parts) or "baseline (eager fp32)"

    def exec_config(self) -> ExecConfig:
        """What the single-GPU model can price of these knobs. Not priced: the optimizer implementation and
        SDPA math/efficient backends (the model prices attention as a fused flash kernel), see ``unpriced``."""
        return ExecConfig(precision=self.precision.value, compile=self.compile is not Compile.NONE,
                          cuda_graphs=self.cuda_graphs, channels_last=self.channels_last,
                          attention="cudnn" if self.sdpa is Sdpa.CUDNN else "flash2")

    def unpriced(self) -> tuple[str, ...]:
        out = []
        if self.optimizer is not OptimizerImpl.RECIPE:
            out.append("optimizer")
        if self.sdpa in (Sdpa.MATH, Sdpa.EFFICIENT):
            out.append("sdpa")
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Context:
    """What decides which knobs apply: the device and what the captured step contains."""

    device_type: str
    """cpu or cuda."""
    batch: int
    has_conv: bool = False
    has_sdpa: bool = False
    has_blocks: bool = False
    """The model has a ModuleList of >= 2 blocks (what checkpointing wraps)."""
    fp8_ok: bool = False
    """CUDA compute capability >= 8.9 (fp8 tensor cores) and torchao importable."""
    fp8_reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Skipped:
    knobs: Knobs
    reason: str


@dataclass(frozen=True, kw_only=True)
class Space:
    candidates: tuple[Knobs, ...]
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)


def _singles(ctx: Context) -> tuple[list[Knobs], list[Skipped]]:
    base = Knobs()
    cuda = ctx.device_type == "cuda"
    out: list[Knobs] = []
    skip: list[Skipped] = []

    def add(ok: bool, k: Knobs, why: str) -> None:
        (out.append(k) if ok else skip.append(Skipped(knobs=k, reason=why)))

    add(cuda, replace(base, precision=Precision.TF32), "tf32 is a CUDA tensor-core mode; this device has none")
    out.append(replace(base, precision=Precision.BF16))
    add(ctx.fp8_ok, replace(base, precision=Precision.FP8), ctx.fp8_reason or "fp8 needs CUDA sm_89+ and torchao")
    out.append(replace(base, compile=Compile.DEFAULT))
    out.append(replace(base, compile=Compile.MAX_AUTOTUNE))
    add(cuda, replace(base, compile=Compile.DEFAULT, cuda_graphs=True), "CUDA graphs need a CUDA device")
    add(ctx.has_conv, replace(base, channels_last=True), "no convolutions in this workload")
    for impl in (OptimizerImpl.FUSED, OptimizerImpl.FOREACH, OptimizerImpl.FORLOOP):
        out.append(replace(base, optimizer=impl))
    add(ctx.has_blocks, replace(base, checkpointing=True), "no ModuleList of blocks to checkpoint")
    sdpa = (Sdpa.FLASH, Sdpa.EFFICIENT, Sdpa.CUDNN, Sdpa.MATH) if cuda else (Sdpa.FLASH, Sdpa.MATH)
    for s in sdpa:
        add(ctx.has_sdpa, replace(base, sdpa=s), "no scaled_dot_product_attention in this workload")
    if not cuda:
        skip += [Skipped(knobs=replace(base, sdpa=s), reason="a CUDA-only SDPA backend")
                 for s in (Sdpa.EFFICIENT, Sdpa.CUDNN)]
    return out, skip


def candidate_space(ctx: Context) -> Space:
    """The candidates to price and measure: every applicable knob alone, then stacks of the ones that usually
    compound (low precision x compile x channels-last), then larger micro-batches of the baseline and of the
    richest stack (their memory is gated by the caller before they run), with checkpointing beside the largest.
    Knobs that do not apply are returned as ``skipped`` with the reason."""
    singles, skipped = _singles(ctx)
    cuda = ctx.device_type == "cuda"
    precisions = [Precision.BF16] + ([Precision.TF32] if cuda else []) + ([Precision.FP8] if ctx.fp8_ok else [])
    stacks: list[Knobs] = []
    for p in precisions:
        for graphs in ((False, True) if cuda else (False,)):
            stacks.append(Knobs(precision=p, compile=Compile.DEFAULT, cuda_graphs=graphs,
                                channels_last=ctx.has_conv))
    if ctx.has_conv:
        stacks.append(Knobs(precision=Precision.BF16, channels_last=True))
    richest = Knobs(precision=Precision.BF16, compile=Compile.DEFAULT, cuda_graphs=cuda, channels_last=ctx.has_conv)
    batches = [Knobs(micro_batch=m * ctx.batch) for m in (2, 4)]
    batches += [replace(richest, micro_batch=m * ctx.batch) for m in (2, 4)]
    if ctx.has_blocks:
        batches.append(Knobs(micro_batch=8 * ctx.batch, checkpointing=True))
    seen: set[Knobs] = {Knobs()}
    cands = []
    for k in singles + stacks + batches:
        if k not in seen:
            seen.add(k)
            cands.append(k)
    return Space(candidates=tuple(cands), skipped=tuple(skipped))
