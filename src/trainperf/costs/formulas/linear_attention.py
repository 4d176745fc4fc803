"""Ops of the chunked linear-attention scans that no other formula module covers.

``aten::linalg_solve_triangular(A, B, upper, left, unitriangular)`` is the UT transform of the chunked (gated)
delta rule: transformers' ``torch_chunk_gated_delta_rule`` (Qwen3-Next; fla's ``chunk_gated_delta_rule``
reference) solves ``(I + tril(β K Kᵀ ⊙ decay)) X = β V`` per chunk, with A of (…, C, C) and B of (…, C, d).
Forward substitution with an n x n triangular matrix and k right-hand sides costs n²·k FLOPs (n(n-1)/2·k
multiply-adds plus the divisions; LAPACK Working Note 41, xTRSM: m²·n), which equals a GEMM of
(n x n/2) @ (n/2 x k): it is priced as that GEMM, the shape cuBLAS' batched trsm reaches.
"""

from __future__ import annotations

from trainperf.costs.formulas._util import bool_arg, nbytes, tensor_arg
from trainperf.costs.registry import register_cost
from trainperf.costs.types import Gemm, OpCall, OpCost
from trainperf.vocab import OpCategory


@register_cost("aten::linalg_solve_triangular")
def solve_triangular(call: OpCall) -> OpCost:
    a, b = tensor_arg(call, 0), tensor_arg(call, 1)
    assert a is not None and b is not None
    left = bool_arg(call, 3, True)
    n = a.shape[-1]
    rows, rhs = (b.shape[-2], b.shape[-1]) if left else (b.shape[-1], b.shape[-2])
    batch = 1
    for d in b.shape[:-2]:
        batch *= d
    g = Gemm(m=rows, n=rhs, k=max(1, (n + 1) // 2), batch=batch)
    out = call.outputs[0] if call.outputs else b
    return OpCost(category=OpCategory.MATMUL, flops=float(batch) * n * n * rhs, bytes_read=nbytes([a, b]),
                  bytes_written=out.nbytes, gemm=g, math_dtype=a.dtype)
