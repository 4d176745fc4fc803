"""Per-op cost formulas (FLOPs, bytes, category) as pure functions of shapes and dtypes.

Importable without torch. Used by capture (on fake tensors), by the model (per-op time), and by the
trace analyzer (speed of light of ops recorded with shapes)."""

from trainperf.costs.registry import (
    cost,
    has_formula,
    is_free,
    normalize_op_name,
    register_cost,
    register_free,
)
from trainperf.costs.types import Attention, Gemm, OpCall, OpCost, TensorMeta, dtype_bytes

__all__ = [
    "Attention", "Gemm", "OpCall", "OpCost", "TensorMeta", "cost", "dtype_bytes", "has_formula",
    "is_free", "normalize_op_name", "register_cost", "register_free",
]
