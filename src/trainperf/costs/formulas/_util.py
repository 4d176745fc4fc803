"""Small helpers shared by formula modules."""

from __future__ import annotations

import math
from collections.abc import Sequence

from trainperf.costs.types import OpCall, TensorMeta


def tensor_arg(call: OpCall, i: int) -> TensorMeta | None:
    a = call.arg(i)
    return a if isinstance(a, TensorMeta) else None


def tensor_list_arg(call: OpCall, i: int) -> list[TensorMeta]:
    a = call.arg(i)
    if isinstance(a, tuple):
        return [t for t in a if isinstance(t, TensorMeta)]
    return [a] if isinstance(a, TensorMeta) else []


def int_arg(call: OpCall, i: int, default: int) -> int:
    a = call.arg(i)
    if isinstance(a, bool):
        return int(a)
    if isinstance(a, int):
        return a
    if isinstance(a, tuple) and len(a) == 1 and isinstance(a[0], int):
        return a[0]
    return default


def bool_arg(call: OpCall, i: int, default: bool) -> bool:
    a = call.arg(i)
    if isinstance(a, bool):
        return a
    if isinstance(a, int):
        return bool(a)
    if isinstance(a, str):
        return a.strip().lower() in ("true", "1")
    return default


def ints_arg(call: OpCall, i: int, default: Sequence[int]) -> tuple[int, ...]:
    a = call.arg(i)
    if isinstance(a, tuple) and all(isinstance(x, int) and not isinstance(x, bool) for x in a):
        return tuple(int(x) for x in a)  # type: ignore[arg-type]
    if isinstance(a, int) and not isinstance(a, bool):
        return (a,)
    return tuple(default)


def broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (sizes of 0 broadcast like torch does)."""
    if not shapes:
        return ()
    nd = max(len(s) for s in shapes)
    out = []
    for d in range(nd):
        size = 1
        for s in shapes:
            k = d - (nd - len(s))
            if k >= 0 and s[k] != 1:
                size = s[k]
        out.append(size)
    return tuple(out)


def nbytes(ts: Sequence[TensorMeta | None]) -> float:
    return float(sum(t.nbytes for t in ts if t is not None))


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)
