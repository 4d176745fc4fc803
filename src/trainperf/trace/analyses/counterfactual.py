"""The compute part of "what to fix first", priced by counterfactual: each item prices the ops it would
change as the fix would run them, with the per-op cost formulas (trainperf.costs) on the trace's own
recorded shapes, on the trace's GPU at ACHIEVABLE_SOL of its roofline, and recovers the difference.

- ``unfused_attention``: a bmm/baddbmm (QK^T) -> softmax -> bmm (PV) span on one thread, whose shapes line
  up on the same batch x heads (as model/production.py ``fuse_attention`` matches them in an OpGraph), and
  its backward (PV's two products, softmax backward, QK^T's two products). Counterfactual: one flash
  attention forward (``aten::_scaled_dot_product_flash_attention``) and one backward
  (``..._backward``) on the span's shapes. Recoverable: the span's kernel time (every op from the first
  product to the last: scale, mask, softmax, dropout, casts included; flash fuses them all) - that.
- ``fp32_matmul``: compute-bound fp32 matmul/conv/attention ops priced in the GPU's fastest 16-bit tensor
  format (bf16, else fp16, else tf32), FLOPs at its peak and bytes at its width.
- ``far_from_sol``: every priced op's time above roofline / ACHIEVABLE_SOL (a well-tuned kernel's time).

Each item's recoverable time is split over the speed-of-light rows (rank, op, shapes) it changes: its
*claims*. advice.count_once counts each row's time once (the largest claim of the items counted before),
so items pricing the same kernels never add up to more than those kernels, and the one that gives time up
says so (``overlaps``); far_from_sol, the generic item, is counted after the specific fixes.

Why roofline x ACHIEVABLE_SOL and not the single-GPU model's efficiency curves (model/efficiency.py): the
trace package imports nothing of ours above costs/hardware (docs/architecture.md, layering), and the same
yardstick prices far_from_sol, so the three items are comparable. It flatters flash backward (FlashAttention-2
reaches 45-70% of peak backward, 50-73% forward on A100: Dao 2023, arXiv 2307.08691 fig. 6-7), which
makes the recoverable time an upper bound, like every opportunity. The causal mask is not read from the
trace, so flash is priced on the full score matrix (a causal kernel skips about half: more to recover).

Plain Python and orjson (no polars, no dataclasses): both engines call ``compute`` with the same rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, NamedTuple

import orjson

from trainperf.trace.analyses.advice import ACHIEVABLE_SOL
from trainperf.trace.analyses.pricing import KERNEL_FLOOR_NS, peak_tflops

# Op names as the profiler writes them (as model/production.py matches them in an OpGraph, plus the masked
# softmax nn.MultiheadAttention's fast path runs: torch/nn/functional.py multi_head_attention_forward).
SOFTMAX = ("aten::_softmax", "aten::softmax", "aten::_safe_softmax", "aten::_masked_softmax")
SOFTMAX_BWD = ("aten::_softmax_backward_data", "aten::_masked_softmax_backward")
PRODUCTS = ("aten::bmm", "aten::baddbmm")
# Positional index of ``dim`` in each softmax's schema (native_functions.yaml); the span needs the last dim.
_DIM_ARG = {"aten::_softmax": 1, "aten::softmax": 1, "aten::_safe_softmax": 1, "aten::_masked_softmax": 2,
            "aten::_softmax_backward_data": 2, "aten::_masked_softmax_backward": 3}
# At most this many kernel-launching ops between a product and the softmax: eager attention runs scale,
# mask add, an fp32 cast and back, dropout (transformers' eager_attention_forward, e.g. modeling_llama.py).
MAX_BETWEEN = 8
HEAVY = ("matmul", "conv", "attention")
# Bytes per value of a 16-bit format over fp32's (tf32 keeps fp32 storage).
_BYTES_VS_FP32 = {"bf16": 0.5, "fp16": 0.5, "tf32": 1.0}

Inst = tuple[int, int, int, int, str, str | None, int]
"""One cpu_op that launched GPU work (not communication): rank, tid, ts, idx, op, shapes, kernel ns."""
Unit = tuple[Any, ...]
"""What a claim is on: a speed-of-light row (rank, op, shapes), or ("kernels", category) without shapes."""


class Priced(NamedTuple):
    """One compute item: measured time of the ops the fix changes, the same work as the fix runs it, and
    the recoverable time per unit (claims; they add up to measured_ns - fix_ns)."""

    measured_ns: float
    fix_ns: float
    claims: dict[Unit, float]
    detail: tuple[Any, ...] = ()

    def per(self, n: float) -> Priced:
        return Priced(self.measured_ns / n, self.fix_ns / n, {u: c / n for u, c in self.claims.items()}, self.detail)


class Compute(NamedTuple):
    """The compute items found (None: not found, or no GPU to price on). Per step, mean over ranks, once
    ``per``-scaled."""

    attention: Priced | None = None
    fp32: Priced | None = None
    far: Priced | None = None


class Span(NamedTuple):
    """One unfused attention call: forward or backward, its dims and its ops' (unit, kernel ns)."""

    backward: bool
    bh: int
    lq: int
    lk: int
    d: int
    dv: int
    dtype: str
    ops: tuple[tuple[Unit, int], ...]


def compute(rows: list[dict[str, Any]], insts: list[Inst], gpu: Any | None, kernel_fp32: dict[str, float],
            n: float) -> Compute:
    """The three items from the speed-of-light rows (sol.op_sol's, as dicts, in its order), the op sequence
    of threads holding a softmax (sorted by rank, tid, ts, idx), and fp32 kernel time by category from
    kernel names (used when no op was priced); ``n`` = steps x ranks."""
    if gpu is None:
        return Compute()
    heavy = {(r["op"], r["shapes"]) for r in rows if r["cost_category"] in HEAVY}
    att = price_attention(find_spans(insts, heavy), gpu)
    fp32 = price_fp32(rows, gpu, kernel_fp32)
    far = price_far(rows, claimed(att, fp32))
    return Compute(*(None if p is None or not p.claims else p.per(n) for p in (att, fp32, far)))


# ---- matching ------------------------------------------------------------------------------------------

def _args(shapes: str | None) -> tuple[list[Any], list[Any], list[Any]] | None:
    if shapes is None:
        return None
    try:
        dims, types, concrete, *_ = orjson.loads(shapes)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    if not isinstance(dims, list) or not isinstance(types, list):
        return None
    return dims, types, concrete if isinstance(concrete, list) else []


def _shape(d: Any, ndim: int | None = None) -> list[int] | None:
    ok = isinstance(d, list) and all(type(x) is int and x > 0 for x in d)
    return d if ok and (ndim is None or len(d) == ndim) else None


def gemm_dims(op: str, shapes: str | None) -> tuple[int, int, int, int, str] | None:
    """(batch, m, n, k, dtype) of a bmm / baddbmm call from its Input Dims / Input type."""
    from trainperf.costs.profiler import KINETO_DTYPES

    a = _args(shapes)
    if a is None or op not in PRODUCTS:
        return None
    dims, types, _ = a
    i = 1 if op == "aten::baddbmm" else 0  # baddbmm(self, batch1, batch2, beta, alpha)
    if len(dims) < i + 2 or len(types) < i + 1:
        return None
    x, y = _shape(dims[i], 3), _shape(dims[i + 1], 3)
    if x is None or y is None or x[0] != y[0] or x[2] != y[1]:
        return None
    return x[0], x[1], y[2], x[2], KINETO_DTYPES.get(types[i], "float32")


def softmax_dims(op: str, shapes: str | None) -> tuple[int, int, int] | None:
    """(batch x heads, Lq, Lk) of a softmax (or its backward) over the last dim of (..., Lq, Lk) scores."""
    a = _args(shapes)
    if a is None:
        return None
    dims, _, concrete = a
    s = _shape(dims[0]) if dims else None
    if s is None or len(s) < 3:  # scores are (B x H, Lq, Lk) or (B, H, Lq, Lk)
        return None
    i = _DIM_ARG.get(op, 1)
    dim = concrete[i] if i < len(concrete) else ""
    if isinstance(dim, str) and dim.lstrip("-").isdigit() and int(dim) not in (-1, len(s) - 1):
        return None
    return math.prod(s[:-2]), s[-2], s[-1]


def _rest(g: tuple[int, int, int, int, str], lq: int, lk: int) -> int | None:
    """The head dim of an attention product: (m, n, k) less one Lq and one Lk; None when it has neither."""
    mnk = list(g[1:4])
    for x in (lq, lk):
        if x not in mnk:
            return None
        mnk.remove(x)
    return mnk[0]


def _walk(seq: list[Inst], at: int, step: int, heavy: set[tuple[str, str | None]], fits: Any,
          most: int) -> list[tuple[int, tuple[int, int, int, int, str]]]:
    """From the softmax at ``at``, the products ``fits`` accepts in direction ``step`` (at most ``most``),
    skipping up to MAX_BETWEEN other ops; stops at another GEMM, softmax or a product that does not fit."""
    out: list[tuple[int, tuple[int, int, int, int, str]]] = []
    skipped = 0
    i = at + step
    while 0 <= i < len(seq) and len(out) < most:
        op, shapes = seq[i][4], seq[i][5]
        if op in PRODUCTS:
            g = gemm_dims(op, shapes)
            if g is None or not fits(g):
                break
            out.append((i, g))
        elif op in SOFTMAX or op in SOFTMAX_BWD or (op, shapes) in heavy:
            break
        else:
            skipped += 1
            if skipped > MAX_BETWEEN:
                break
        i += step
    return out


def _span(seq: list[Inst], at: int, heavy: set[tuple[str, str | None]]) -> tuple[int, int, Span] | None:
    op = seq[at][4]
    sm = softmax_dims(op, seq[at][5])
    if sm is None:
        return None
    bh, lq, lk = sm
    if op in SOFTMAX:  # QK^T (bh, lq, d) @ (bh, d, lk) before; PV (bh, lq, lk) @ (bh, lk, dv) after
        left = _walk(seq, at, -1, heavy, lambda g: (g[0], g[1], g[2]) == (bh, lq, lk), 1)
        right = _walk(seq, at, 1, heavy, lambda g: (g[0], g[1], g[3]) == (bh, lq, lk), 1)
        if not left or not right:
            return None
        d, dv, dtype = left[0][1][3], right[0][1][2], left[0][1][4]
    else:  # backward: dP and dV before, dQ and dK after; each product has Lq and Lk among (m, n, k)
        def fits(g: tuple[int, int, int, int, str]) -> bool:
            return g[0] == bh and _rest(g, lq, lk) is not None

        left, right = _walk(seq, at, -1, heavy, fits, 2), _walk(seq, at, 1, heavy, fits, 2)
        if not left or not right:
            return None
        dv_, d_ = _rest(left[0][1], lq, lk), _rest(right[0][1], lq, lk)
        if d_ is None or dv_ is None:  # (fits() saw to both)
            return None
        d, dv, dtype = d_, dv_, right[0][1][4]
    lo, hi = min(i for i, _ in left), max(i for i, _ in right)
    ops = tuple(((s[0], s[4], s[5]), s[6]) for s in seq[lo:hi + 1])
    return lo, hi, Span(op in SOFTMAX_BWD, bh, lq, lk, d, dv, dtype, ops)


def find_spans(insts: list[Inst], heavy: set[tuple[str, str | None]]) -> list[Span]:
    """Every unfused attention span in the op sequences (``insts`` sorted by rank, tid, ts, idx); an op
    belongs to one span at most."""
    by: dict[tuple[int, int], list[Inst]] = defaultdict(list)
    for s in insts:
        by[(s[0], s[1])].append(s)
    out = []
    for seq in by.values():
        end = -1
        for at, s in enumerate(seq):
            if at <= end or (s[4] not in SOFTMAX and s[4] not in SOFTMAX_BWD):
                continue
            got = _span(seq, at, heavy)
            if got is not None and got[0] > end:
                end = got[1]
                out.append(got[2])
    return out


# ---- pricing -------------------------------------------------------------------------------------------

def _roofline_ns(flops: float, nbytes: float, gpu: Any, dtype: str) -> float:
    """Roofline time: FLOPs at the dtype's dense peak (TFLOP/s = 1e3 FLOP/ns), bytes at HBM bandwidth
    (GB/s = byte/ns), whichever is longer."""
    peak = peak_tflops(gpu, dtype)
    return max(flops / (peak * 1e3) if peak else 0.0, nbytes / float(gpu.hbm_bw_GBps))


def fix_ns(roofline: float, kernels: int) -> float:
    """What a well-tuned kernel takes: roofline / ACHIEVABLE_SOL, never under a kernel's fixed cost."""
    return max(roofline / ACHIEVABLE_SOL, kernels * KERNEL_FLOOR_NS)


def flash_cost(bh: int, lq: int, lk: int, d: int, dv: int, dtype: str, backward: bool) -> tuple[float, float]:
    """(FLOPs, bytes) of one flash-attention call on these dims (costs/formulas/attention.py), non-causal;
    q, k, v laid out (B x H, 1, L, D) as model/production.py ``_fused_row`` builds them."""
    from trainperf.costs import OpCall, TensorMeta, cost

    q, k = TensorMeta((bh, 1, lq, d), dtype), TensorMeta((bh, 1, lk, d), dtype)
    v, o = TensorMeta((bh, 1, lk, dv), dtype), TensorMeta((bh, 1, lq, dv), dtype)
    if backward:
        lse = TensorMeta((bh, 1, lq), "float32")
        call = OpCall("aten::_scaled_dot_product_flash_attention_backward",
                      (o, q, k, v, o, lse, None, None, lq, lk, 0.0, False))
    else:
        call = OpCall("aten::_scaled_dot_product_flash_attention", (q, k, v, 0.0, False))
    c = cost(call)
    assert c is not None
    return float(c.flops), float(c.bytes)


def price_attention(spans: list[Span], gpu: Any) -> Priced | None:
    """Spans whose flash kernel is faster than their kernels: measured, as flash, claims per op row (the
    span's saving split over its ops by time). detail: (forward spans, backward spans, the dims with the
    most time (bh, lq, lk, d, dtype))."""
    claims: dict[Unit, float] = defaultdict(float)
    meas = fix = 0.0
    n = [0, 0]
    by_dims: dict[tuple[int, int, int, int, str], float] = defaultdict(float)
    for s in spans:
        t = float(sum(ns for _, ns in s.ops))
        c = fix_ns(_roofline_ns(*flash_cost(s.bh, s.lq, s.lk, s.d, s.dv, s.dtype, s.backward), gpu, s.dtype), 1)
        if t <= c:
            continue
        meas, fix = meas + t, fix + c
        n[s.backward] += 1
        by_dims[(s.bh, s.lq, s.lk, s.d, s.dtype)] += t
        for u, ns in s.ops:
            claims[u] += ns * (t - c) / t
    if not by_dims:
        return None
    top = min(by_dims.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return Priced(meas, fix, dict(claims), (n[0], n[1], top))


def fast_format(gpu: Any) -> str | None:
    """The GPU's fast tensor format for fp32 training: bf16, else fp16 (V100, Turing: autocast with a
    GradScaler), else tf32; None without an fp32 rate to compare with. (Every catalog part has an fp16
    rate, and the parts without bf16 lack tf32 too: both came with Ampere; tf32 is the last resort.)"""
    if not gpu.has_precision("fp32"):
        return None
    return next((d for d in ("bf16", "fp16", "tf32") if gpu.has_precision(d)), None)


def price_fp32(rows: list[dict[str, Any]], gpu: Any, kernel_fp32: dict[str, float]) -> Priced | None:
    """Compute-bound fp32 matmul/conv/attention ops as the same ops in the fast format (fast_format): from
    the priced rows, else (no op priced: no shapes recorded) from fp32 kernel time by category scaled by
    the peak ratio. detail: (format, categories, priced on shapes)."""
    fast = fast_format(gpu)
    if fast is None:
        return None
    claims: dict[Unit, float] = {}
    meas = fix = 0.0
    cats: set[str] = set()
    shaped = any(r["covered"] for r in rows)
    if shaped:
        for r in rows:
            if not (r["covered"] and r["math_dtype"] == "float32" and r["cost_category"] in HEAVY
                    and r.get("bound_by") == "compute"):
                continue
            t = float(r["time_ns"])
            roof = r["calls"] * _roofline_ns(r["flops"], r["bytes"] * _BYTES_VS_FP32[fast], gpu, fast)
            c = min(t, fix_ns(roof, r["kernels"]))
            meas, fix = meas + t, fix + c
            cats.add(r["cost_category"])
            if t > c:
                claims[(r["rank"], r["op"], r["shapes"])] = t - c
    else:
        ratio = gpu.peak_tflops("fp32") / gpu.peak_tflops(fast)
        if ratio >= 1:  # a part whose 16-bit math is no faster (fp16 without tensor cores)
            return None
        for cat, t in sorted(kernel_fp32.items()):
            if cat not in HEAVY:
                continue
            meas, fix = meas + t, fix + t * ratio
            cats.add(cat)
            claims[("kernels", cat)] = t * (1 - ratio)
    return Priced(meas, fix, claims, (fast, tuple(sorted(cats)), shaped)) if claims else None


def claimed(*items: Priced | None) -> dict[Unit, float]:
    """The largest claim of these items on each unit (what advice.count_once leaves to an item after them)."""
    out: dict[Unit, float] = {}
    for p in items:
        for u, c in (p.claims if p is not None else {}).items():
            out[u] = max(out.get(u, 0.0), c)
    return out


def price_far(rows: list[dict[str, Any]], taken: dict[Unit, float]) -> Priced | None:
    """Time above roofline / ACHIEVABLE_SOL of every priced compute- or memory-bound op row. detail: the
    three rows with the most of it left beyond ``taken`` (the specific items' claims, counted first) as
    (op, calls, sol_frac, bound_by); the rows with the most of it when they take it all."""
    gaps = []
    for r in rows:
        if r["covered"] and r.get("bound_by") in ("compute", "memory") and r.get("sol_ns") is not None:
            g = r["time_ns"] - r["sol_ns"] / ACHIEVABLE_SOL
            if g > 0:
                gaps.append((r, g, g - taken.get((r["rank"], r["op"], r["shapes"]), 0.0)))
    if not gaps:
        return None
    meas = float(sum(r["time_ns"] for r, _, _ in gaps))
    claims = {(r["rank"], r["op"], r["shapes"]): g for r, g, _ in gaps}
    left = [x for x in gaps if x[2] > 0] or gaps
    left.sort(key=lambda x: (-x[2] if x[2] > 0 else -x[1], x[0]["rank"], x[0]["op"] is None, x[0]["op"] or "",
                             x[0]["shapes"] is None, x[0]["shapes"] or ""))
    top = tuple((r["op"], int(r["calls"]), float(r["sol_frac"]), r["bound_by"]) for r, _, _ in left[:3])
    return Priced(meas, meas - sum(claims.values()), claims, top)
