"""The closed vocabularies used everywhere (docs/glossary.md defines each term)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class OpCategory(StrEnum):
    """What kind of work an op (or a GPU kernel) does. Shared by capture, the model and the trace analyzer."""

    MATMUL = "matmul"
    ATTENTION = "attention"
    CONV = "conv"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    EMBEDDING = "embedding"
    OPTIMIZER = "optimizer"
    COPY = "copy"
    COMMUNICATION = "communication"
    OTHER = "other"


class Phase(StrEnum):
    """Where in the training step an op runs."""

    FWD = "fwd"
    BWD = "bwd"
    OPTIMIZER = "optimizer"


class Domain(StrEnum):
    """Workload families of the zoo."""

    LLM = "llm"
    MOE = "moe"
    ENCODER = "encoder"
    ENCDEC = "encdec"
    SPEECH = "speech"
    VISION = "vision"
    VLM = "vision-language"
    CNN = "cnn"
    DIFFUSION = "diffusion"
    RECSYS = "recsys"
    GNN = "gnn"
    CUSTOM = "custom"


class BoundBy(StrEnum):
    """What limits an op's or a category's time (glossary: bound-by)."""

    COMPUTE = "compute"
    MEMORY = "memory"
    LATENCY = "latency"  # kernel floor / launch / host dispatch
    COMMUNICATION = "communication"


class ParallelAxis(StrEnum):
    """A parallel axis: what a communication runs over (glossary: parallel layout)."""

    TP = "tp"
    CP = "cp"
    EP = "ep"
    DP = "dp"
    FSDP = "fsdp"
    """ZeRO-3 / FSDP parameter gathers and gradient reduce-scatters, over the data-parallel ranks."""
    HSDP = "hsdp"
    """The replica all-reduce of hybrid-sharded data parallelism."""
    PP = "pp"


class LinkClass(StrEnum):
    """What an interconnect tier is, as NCCL's latency model classes it (NCCL_HW_NVLINK, _PCI, _NET)."""

    NVLINK = "nvlink"
    PCI = "pci"
    NET = "net"


class Precision(StrEnum):
    """Number formats of tensor math, named as datasheets name their peaks (glossary: precision)."""

    FP64 = "fp64"
    FP32 = "fp32"
    TF32 = "tf32"
    """fp32 storage, matmuls on TF32 tensor cores (10-bit mantissa)."""
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    FP6 = "fp6"
    FP4 = "fp4"

    @property
    def bytes(self) -> float:
        """Bytes of one value as stored in memory (fp4: two per byte; fp6: 6 bits, OCP MX v1.0 packing)."""
        return _PRECISION_BYTES[self]

    @property
    def dtype(self) -> str:
        """Torch dtype name of a GEMM operand in this format (tf32 computes on float32 tensors; fp6 has no
        torch dtype and is stored as its fp8 container)."""
        return _PRECISION_DTYPE[self]

    @property
    def peak_field(self) -> str:
        """The GPUSpec field of its dense tensor-core (or, fp64/fp32, vector) peak."""
        return f"{self.value}_dense_tflops"


_PRECISION_BYTES = {Precision.FP64: 8.0, Precision.FP32: 4.0, Precision.TF32: 4.0, Precision.BF16: 2.0,
                    Precision.FP16: 2.0, Precision.FP8: 1.0, Precision.FP6: 0.75, Precision.FP4: 0.5}
_PRECISION_DTYPE = {Precision.FP64: "float64", Precision.FP32: "float32", Precision.TF32: "float32",
                    Precision.BF16: "bfloat16", Precision.FP16: "float16", Precision.FP8: "float8_e4m3fn",
                    Precision.FP6: "float8_e4m3fn", Precision.FP4: "float4_e2m1fn_x2"}

EXEC_PRECISIONS = (Precision.BF16, Precision.FP16, Precision.FP32, Precision.TF32, Precision.FP8)
"""What one device's step can run at (model.ExecConfig): fp8 = fp8 linears, the rest of the step bf16."""
PLAN_PRECISIONS = (Precision.BF16, Precision.FP16, Precision.FP8, Precision.FP4)
"""What a distributed plan's GEMMs can run at (parallel.ParallelPlan): fp4 = NVFP4/MXFP4 GEMMs."""


E = TypeVar("E", bound=StrEnum)


def choice(cls: type[E], value: str, flag: str, *, extra: tuple[str, ...] = ()) -> E:
    """``cls(value)``, or a ValueError that names the flag and lists every valid choice
    (``--zero 'zero9': choose one of ddp, zero1, zero2, zero3``) instead of Python's bare enum message."""
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join([*(m.value for m in cls), *extra])
        raise ValueError(f"{flag} {value!r}: choose one of {valid}") from None
