"""Plain value types for per-op cost formulas. Importable without torch: the trace analyzer builds these
from shapes read out of a profiler trace, capture builds them from fake tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeAlias

from trainperf.vocab import OpCategory

# Bytes per element by torch dtype name (torch's own names, without "torch.").
DTYPE_BYTES: dict[str, float] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "tfloat32": 4,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1,  # two fp4 values packed per byte
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "complex64": 8, "complex128": 16, "uint16": 2, "uint32": 4, "uint64": 8,
}


def dtype_bytes(dtype: str) -> float:
    """Bytes per element; unknown dtypes raise so that no byte count is silently wrong."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}") from None


@dataclass(frozen=True, slots=True)
class TensorMeta:
    """Shape, dtype and (when recorded) strides of one tensor: all a cost formula may know about it."""

    shape: tuple[int, ...]
    dtype: str
    strides: tuple[int, ...] | None = field(default=None, compare=False)
    """Element strides as torch reports them; None = unknown, read as contiguous (row-major). Not part of
    equality: two calls that differ only in layout price alike except through Gemm.align."""

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> float:
        return self.numel * dtype_bytes(self.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)


# One positional argument of an aten op: a tensor, a list of tensors (None for an absent optional), or a scalar.
Arg: TypeAlias = "TensorMeta | tuple[TensorMeta | None, ...] | tuple[int, ...] | int | float | bool | str | None"


@dataclass(frozen=True, slots=True)
class OpCall:
    """One aten op call. ``op`` is the packet name as the profiler writes it (``aten::mm``); ``args`` are
    all positional arguments in schema order (defaults filled in where the caller knows them);
    ``outputs`` may be empty when unknown (traces do not record output shapes)."""

    op: str
    args: tuple[Arg, ...]
    outputs: tuple[TensorMeta, ...] = ()

    def tensors(self) -> list[TensorMeta]:
        """All tensor arguments, flattened out of lists, in order."""
        out: list[TensorMeta] = []
        for a in self.args:
            if isinstance(a, TensorMeta):
                out.append(a)
            elif isinstance(a, tuple):
                out.extend(t for t in a if isinstance(t, TensorMeta))
        return out

    def arg(self, i: int, default: Arg = None) -> Arg:
        return self.args[i] if i < len(self.args) else default


@dataclass(frozen=True, slots=True)
class Gemm:
    """A matmul as the kernel sees it: ``batch`` independent (m x k) @ (k x n) products."""

    m: int
    n: int
    k: int
    batch: int = 1
    align: int = 16
    """Widest vector access, in bytes, that every operand's leading dimension allows (at most 16): cuBLAS
    and CUTLASS run their 16-byte (align8 for 16-bit types) kernels only when each leading dimension is a
    multiple of 16 bytes; otherwise align4/2/1 kernels with narrower loads (costs/formulas/matmul.py)."""

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.n * self.k


@dataclass(frozen=True, slots=True)
class Attention:
    """Scaled dot-product attention as a fused kernel sees it."""

    batch: int
    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    head_dim_v: int
    causal: bool
    backward: bool = False


@dataclass(frozen=True, slots=True)
class OpCost:
    """What one op costs, independent of hardware. FLOPs count a multiply-add as 2 (glossary)."""

    category: OpCategory
    flops: float
    bytes_read: float
    bytes_written: float
    kernels: int = 1
    gemm: Gemm | None = None
    attention: Attention | None = None
    # Element-width of the math for compute-bound ops (selects the peak rate); None for memory-bound ops.
    math_dtype: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written
