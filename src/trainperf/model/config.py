"""ExecConfig: how a training step is executed (precision, torch.compile, CUDA graphs)."""

from __future__ import annotations

from dataclasses import dataclass

from trainperf.vocab import EXEC_PRECISIONS, Precision

PRECISIONS = tuple(p.value for p in EXEC_PRECISIONS)
# Attention kernel families a stack runs (rates per family in model/data/calibration.toml [attention]):
# flash2: FlashAttention-2 (flash-attn 2.x, PyTorch SDPA's flash backend); cudnn: cuDNN fused attention as
# Transformer Engine runs it (Megatron, NeMo), FlashAttention-3-class on Hopper/Blackwell.
ATTENTION_BACKENDS = ("flash2", "cudnn")


@dataclass(frozen=True, kw_only=True)
class ExecConfig:
    """Execution choices a user makes for one training step."""

    precision: Precision | str = Precision.BF16
    """bf16 | fp16 (autocast / low-precision params), fp32 (no tensor cores), tf32 (fp32 with TF32 matmuls),
    fp8 (fp8 linears as torchao float8 does; attention and the rest stay bf16)."""
    compile: bool = False
    """torch.compile: elementwise / norm / reduction chains fused into single kernels, no per-op dispatch."""
    cuda_graphs: bool = False
    """CUDA graphs: the step is replayed from a graph, so per-kernel host launch cost is gone."""
    attention: str = "flash2"
    """Attention kernel family: flash2 (flash-attn 2, PyTorch SDPA flash) | cudnn (Transformer Engine's
    cuDNN fused attention; on parts without published cuDNN rates it runs at the flash2 rates)."""
    channels_last: bool = False
    """Convolutions on channels-last (NHWC) tensors (`model.to(memory_format=torch.channels_last)`): no
    NCHW<->NHWC transpose kernels around each tensor-core conv. The capture does not record strides, so this
    is declared, not detected."""
    sustained: bool = True
    """Price compute at the rate a GPU sustains through a long training run (clocks held down by power and
    thermal limits: calibration [power] sustained_frac) rather than the burst rate of short profiler traces
    and microbenchmarks. Kernel-level comparisons with traces (`trainperf calibrate`) use False."""
    calibration: str | None = None
    """Path of a calibration TOML (`trainperf calibrate`); None uses the packaged default."""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        object.__setattr__(self, "precision", Precision(self.precision))
        if self.attention not in ATTENTION_BACKENDS:
            raise ValueError(f"attention {self.attention!r} is not one of {', '.join(ATTENTION_BACKENDS)}")

    @property
    def capture_dtype(self) -> str:
        """Torch dtype of the captured step: fp8 recipes (torchao float8 linears) keep bf16 elsewhere."""
        p = Precision(self.precision)
        return Precision.BF16.dtype if p is Precision.FP8 else p.dtype

    @property
    def mode(self) -> str:
        """Short label: eager, compile, eager+graphs, compile+graphs, with ", channels-last" and ", burst clocks"
        where they apply."""
        base = "compile" if self.compile else "eager"
        return (base + ("+graphs" if self.cuda_graphs else "") + (", channels-last" if self.channels_last else "")
                + ("" if self.sustained else ", burst clocks"))
