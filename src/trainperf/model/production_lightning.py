"""MiniMax's lightning attention as transformers runs it -> the fused kernels production trains with.

transformers' ``MiniMaxLightningAttention`` runs the block-wise form in Python (MiniMax-01, arXiv 2501.08313
sec. 2.2.1): per block of B tokens, Q·Kᵀ ⊙ decay times V inside the block, Q times the running Kᵀ·V state
across blocks, and the state update, a dozen small ops per block and 32 blocks at 8k tokens. Its backward
adds a ``slice_backward`` (a zero-filled full-size gradient) per sliced block of Q, K and V and the adds that
accumulate them. Training runs the Triton kernels of Lightning Attention-2 (Qin et al. 2024, arXiv
2401.04658; OpenNLPLab/lightning-attention ``lightning_attn2``): one forward kernel that walks the blocks
with the state on chip, and two backward kernels (intra-block and inter-block gradients).

What is matched: in a forward run of the module (one call, rows of its own module_type), the rows from the
state's ``aten::zeros`` (b, H, d, e) through the ``aten::cat`` of the block outputs; in the module's next
backward run, every row before the trailing ``aten::cat`` (the gradient of the q/k/v split, which production
keeps). The activation, the output norm, the gate and the projections are child modules or rows outside the
core and stay as written. Shapes: b, H, d, e from the state, the sequence from the cat's output
(b, H, seq, e), the block from the first intra-block product's (b·H, B, d) operand. Cost formulas:
``trainperf::lightning_attn`` and ``_backward`` in costs/formulas/linear_attention.py.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.costs import OpCall, TensorMeta
from trainperf.model.production import _runs
from trainperf.model.production_ssm import Match
from trainperf.opgraph import OpGraph

MODULE_TYPES = ("MiniMaxLightningAttention",)
FWD_OP, BWD_OP = "trainperf::lightning_attn", "trainperf::lightning_attn_backward"


def _fwd_core(rows: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(first, last) row of the block loop in a forward run: the state's zeros to the cat of the blocks."""
    zeros = [i for i, r in enumerate(rows) if r["op"] == "aten::zeros" and r["output_shapes"]
             and len(r["output_shapes"][0]) == 4]
    cats = [i for i, r in enumerate(rows) if r["op"] == "aten::cat"]
    if not zeros or not cats or cats[-1] <= zeros[0]:
        return None
    s, e = zeros[0], cats[-1]
    return (s, e) if any(r["op"] == "aten::bmm" for r in rows[s:e]) else None


def _bwd_end(rows: list[dict[str, Any]]) -> int | None:
    """One past the last core row of a backward run: all but a trailing cat; None without the block loop."""
    ops = [r["op"] for r in rows]
    if "aten::bmm" not in ops or "aten::slice_backward" not in ops:
        return None
    return len(rows) - 1 if ops[-1] == "aten::cat" else len(rows)


def _calls(rows: list[dict[str, Any]], s: int, e: int, dtype: str) -> tuple[OpCall, OpCall] | None:
    b, h, d, ev = rows[s]["output_shapes"][0]
    out = rows[e]["output_shapes"][0] if rows[e]["output_shapes"] else []
    first = next((r for r in rows[s:e] if r["op"] == "aten::bmm"), None)
    if len(out) != 4 or first is None:
        return None
    seq, block = int(out[2]), int(first["input_shapes"][0][1])
    qk = TensorMeta((b, h, seq, d), dtype)
    v = TensorMeta((b, h, seq, ev), dtype)
    slope = TensorMeta((h,), "float32")
    fwd = OpCall(FWD_OP, (qk, qk, v, slope, block), outputs=(v,))
    bwd = OpCall(BWD_OP, (v, qk, qk, v, slope, block), outputs=(qk, qk, v))
    return fwd, bwd


def matches(graph: OpGraph) -> list[Match]:
    """Every block-wise lightning-attention core of the step, forward and backward, with its fused op."""
    ops = _runs(graph.ops).with_row_index("_pos").filter(pl.col("module_type").is_in(MODULE_TYPES))
    out: list[Match] = []
    pending: dict[str, list[OpCall]] = {}  # module -> backward calls awaiting their run (LIFO)
    for (_run,), run in ops.group_by("run", maintain_order=True):
        rows = run.to_dicts()
        module, phase = rows[0]["module"], rows[0]["phase"]
        if phase == "fwd":
            core = _fwd_core(rows)
            calls = _calls(rows, *core, graph.meta.dtype) if core else None
            if core and calls:
                pending.setdefault(module, []).append(calls[1])
                out.append(Match(rows[core[0]]["_pos"], rows[core[1]]["_pos"] + 1, calls[0], backward=False))
        elif phase == "bwd" and pending.get(module):
            end = _bwd_end(rows)
            if end:
                out.append(Match(rows[0]["_pos"], rows[end - 1]["_pos"] + 1, pending[module].pop(), backward=True))
    return out
