"""OpCalls from what the PyTorch profiler records for a cpu_op with ``record_shapes=True``: the
"Input Dims", "Input type" and "Concrete Inputs" lists (one entry per positional argument, as
torch/autograd/profiler_util.py writes them). Shared by the trace analyzer (speed of light per op) and
calibration (measured kernel time per op), so both price a recorded op the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainperf.costs.types import Arg, OpCall, TensorMeta

# Profiler type strings (c10 scalar type names as Kineto prints them) -> torch dtype names.
KINETO_DTYPES = {
    "float": "float32", "double": "float64", "c10::Half": "float16", "c10::BFloat16": "bfloat16",
    "long int": "int64", "long": "int64", "int": "int32", "short int": "int16", "short": "int16",
    "signed char": "int8", "unsigned char": "uint8", "bool": "bool", "c10::complex<float>": "complex64",
    "c10::complex<double>": "complex128", "c10::Float8_e4m3fn": "float8_e4m3fn",
    "c10::Float8_e5m2": "float8_e5m2", "c10::Float8_e4m3fnuz": "float8_e4m3fnuz",
    "c10::Float8_e5m2fnuz": "float8_e5m2fnuz", "c10::Float8_e8m0fnu": "float8_e8m0fnu",
    "unsigned short": "uint16", "unsigned int": "uint32", "unsigned long": "uint64",
}


def parse_scalar(s: str) -> Arg:
    """A "Concrete Inputs" entry: bool, int list, int, float, or the string itself (None if empty)."""
    s = s.strip()
    if s in ("True", "False"):
        return s == "True"
    if s.startswith("[") and s.endswith("]"):
        try:
            return tuple(int(x) for x in s[1:-1].split(",") if x.strip())
        except ValueError:
            return None
    for conv in (int, float):
        try:
            return conv(s)  # type: ignore[no-any-return]
        except ValueError:
            pass
    return s or None


def _strides(s: Any, ndim: int) -> tuple[int, ...] | None:
    """One tensor's "Input Strides" entry, when it is a list of ``ndim`` integers (else unknown)."""
    if isinstance(s, list) and len(s) == ndim and all(type(x) is int for x in s):
        return tuple(s)
    return None


def op_call_from_profiler(name: str, dims: Sequence[Any] | None, types: Sequence[str] | None,
                          concrete: Sequence[Any] | None, strides: Sequence[Any] | None = None) -> OpCall:
    """Rebuild the positional arguments of one recorded op. Tensor lists take the dtype of the first
    typed tensor (the profiler records only "TensorList" for them). ``strides`` is the cpu_op's "Input
    Strides" (PyTorch >= 2.1 with record_shapes), one list per argument; absent or malformed entries
    leave a tensor's layout unknown (read as contiguous)."""
    types = types or []
    concrete = concrete or []
    strides = strides if isinstance(strides, list) else []
    first = next((KINETO_DTYPES[t] for t in types if t in KINETO_DTYPES), "float32")
    args: list[Arg] = []
    for i, d in enumerate(dims or []):
        t = types[i] if i < len(types) else ""
        c = concrete[i] if i < len(concrete) else ""
        if t == "TensorList" and isinstance(d, list):
            args.append(tuple(TensorMeta(tuple(int(v) for v in x), first) if isinstance(x, list) else None for x in d))
        elif t in KINETO_DTYPES and isinstance(d, list):
            st = _strides(strides[i], len(d)) if i < len(strides) else None
            args.append(TensorMeta(tuple(int(x) for x in d), KINETO_DTYPES[t], st))
        elif isinstance(c, str) and c != "":
            args.append(parse_scalar(c))
        else:
            args.append(None)
    return OpCall(op=name, args=tuple(args))


def shapes_unrecorded(dims: Sequence[Any] | None, types: Sequence[str] | None) -> bool:
    """True when the profiler recorded a tensor-list argument without its shapes: older Kineto writes
    "TensorList" arguments as `[]` (newer ones as a list of shapes). Such an op (aten::cat, _foreach_*) has
    no price: pricing it would give a 0-byte op."""
    return any(t == "TensorList" and d == [] for d, t in zip(list(dims or []), list(types or []), strict=False))
