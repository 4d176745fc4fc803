"""Hand-built OpGraph tables for model tests (no capture, no torch)."""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph, StepMeta

_DEFAULTS: dict[str, Any] = {
    "overload": "default", "phase": "fwd", "module": "m", "module_type": "Linear", "layer": -1,
    "input_shapes": [], "input_dtypes": [], "output_shapes": [], "output_dtypes": [], "flops": 0.0,
    "bytes_read": 0.0, "bytes_written": 0.0, "kernels": 1, "math_dtype": "", "gemm_batch": 0, "gemm_m": 0,
    "gemm_n": 0, "gemm_k": 0, "gemm_align": 0, "attn_batch": 0, "attn_heads": 0, "attn_q": 0, "attn_kv": 0, "attn_dim": 0,
    "attn_dim_v": 0, "attn_causal": False, "attn_backward": False, "covered": True,
}


def gemm(m: int, n: int, k: int, *, phase: str = "fwd", dtype: str = "bfloat16", module_type: str = "Linear") -> dict[str, Any]:
    b = 2 if dtype in ("bfloat16", "float16") else 4
    return {"op": "aten::mm", "category": "matmul", "phase": phase, "module_type": module_type,
            "flops": 2.0 * m * n * k, "bytes_read": float(b * (m * k + k * n)), "bytes_written": float(b * m * n),
            "math_dtype": dtype, "gemm_batch": 1, "gemm_m": m, "gemm_n": n, "gemm_k": k, "gemm_align": 16,
            "input_shapes": [[m, k], [k, n]], "input_dtypes": [dtype, dtype]}


def eltwise(numel: int, *, phase: str = "fwd", nbytes: int = 2, category: str = "elementwise") -> dict[str, Any]:
    return {"op": "aten::mul", "category": category, "phase": phase, "module_type": "MLP",
            "flops": float(numel), "bytes_read": float(2 * nbytes * numel), "bytes_written": float(nbytes * numel),
            "input_shapes": [[numel], [numel]], "input_dtypes": ["bfloat16", "bfloat16"]}


def attn(b: int, h: int, s: int, d: int, *, causal: bool = True, backward: bool = False) -> dict[str, Any]:
    fwd = 4.0 * b * h * s * s * d
    io = 2.0 * 4 * b * h * s * d
    return {"op": "aten::_scaled_dot_product_flash_attention", "category": "attention",
            "phase": "bwd" if backward else "fwd", "module_type": "Attention", "flops": 2 * fwd if backward else fwd,
            "bytes_read": io, "bytes_written": io / 4, "math_dtype": "bfloat16", "attn_batch": b, "attn_heads": h,
            "attn_q": s, "attn_kv": s, "attn_dim": d, "attn_dim_v": d, "attn_causal": causal, "attn_backward": backward}


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    full = [{**_DEFAULTS, **r, "idx": i} for i, r in enumerate(rows)]
    return pl.DataFrame(full, schema=OPGRAPH_SCHEMA)


def graph(rows: list[dict[str, Any]], *, tokens: int = 8192, model_flops: float = 0.0) -> OpGraph:
    meta = StepMeta(workload="hand", flavor="test", batch=1, seq=tokens, dtype="bfloat16", n_params=10**9,
                    n_params_active=10**9, param_bytes=2e9, grad_bytes=2e9, optimizer_state_bytes=4e9,
                    activation_bytes=1e9, tokens_per_step=tokens, samples_per_step=1, model_flops=model_flops)
    return OpGraph(ops=frame(rows), meta=meta)
