"""The registry of per-op cost formulas: pure functions of shapes and dtypes, keyed by aten packet name.

Shape of the idea: torch/utils/flop_counter.py ``register_flop_formula``. Differences: formulas return
FLOPs *and* bytes and a category; they take plain :class:`OpCall` values, not tensors, so the trace
analyzer can call them on shapes read from a trace; and an op with no formula is *uncovered*
(``cost`` returns None) so that callers report it, never count it as zero.
"""

from __future__ import annotations

from collections.abc import Callable

from trainperf.costs.types import OpCall, OpCost

CostFn = Callable[[OpCall], OpCost]

_FORMULAS: dict[str, CostFn] = {}
_FREE: set[str] = set()


def normalize_op_name(name: str) -> str:
    """``aten.mm.default`` / ``aten::mm`` / ``aten.add.Tensor`` -> ``aten::mm`` / ``aten::add``."""
    if "::" in name:
        ns, _, rest = name.partition("::")
        return f"{ns}::{rest.split('.', 1)[0]}"
    parts = name.split(".")
    if len(parts) >= 2:
        return f"{parts[0]}::{parts[1]}"
    return name


def register_cost(*names: str) -> Callable[[CostFn], CostFn]:
    """Register ``fn`` as the cost formula of each aten op in ``names``. Registering a name twice raises."""

    def deco(fn: CostFn) -> CostFn:
        for raw in names:
            name = normalize_op_name(raw)
            if name in _FORMULAS or name in _FREE:
                raise ValueError(f"cost formula for {name!r} registered twice")
            _FORMULAS[name] = fn
        return fn

    return deco


def register_free(*names: str) -> None:
    """Ops that only change metadata (views, aliases): no kernel, no bytes. Registering twice raises."""
    for raw in names:
        name = normalize_op_name(raw)
        if name in _FORMULAS or name in _FREE:
            raise ValueError(f"cost formula for {name!r} registered twice")
        _FREE.add(name)


def _ensure_loaded() -> None:
    # Formula modules register on import; import them once, lazily, to keep the registry complete.
    from trainperf.costs import formulas  # noqa: F401


def is_free(op: str) -> bool:
    _ensure_loaded()
    return normalize_op_name(op) in _FREE


def has_formula(op: str) -> bool:
    _ensure_loaded()
    name = normalize_op_name(op)
    return name in _FORMULAS or name in _FREE


def cost(call: OpCall) -> OpCost | None:
    """The cost of one op call, or None when no formula covers it (the caller reports it as uncovered)."""
    _ensure_loaded()
    name = normalize_op_name(call.op)
    fn = _FORMULAS.get(name)
    if fn is None:
        return None
    return fn(call)


def registered_ops() -> list[str]:
    _ensure_loaded()
    return sorted(_FORMULAS)
