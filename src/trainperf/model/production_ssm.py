"""Naive chunked scans of hybrid state-space / linear-attention mixers -> the fused kernels production runs.

Without ``mamba_ssm`` and ``flash-linear-attention`` installed, transformers runs these mixers' scans as torch
fallbacks: Mamba-2 SSD as ``torch_chunk_scan_combined`` style cumsum/exp/segment-sum/einsum chains, the gated
delta rule as ``torch_chunk_gated_delta_rule`` (cumsum, decays, bmm, triangular solves, a loop over chunks),
Kimi Delta Attention as its torch chunked form (per-channel decays materialized as (C, C, K) tensors). A GPU
training job runs one fused kernel chain per call instead: mamba_ssm's ``mamba_chunk_scan_combined`` (Dao & Gu
2024, arXiv 2405.21060) and fla's ``chunk_gated_delta_rule`` / ``chunk_kda`` (Yang et al. 2024, arXiv
2412.06464; arXiv 2510.26692). Their costs: costs/formulas/ssm.py and linear_attention.py.

What is matched: rows whose ``module_type`` is one of the mixer classes below (the mixer's own rows, not its
child Linear/Norm modules), one run (``production._runs``: one module call in one phase) that holds a cumsum
and a product. In that run the core is every row after the depthwise conv and its activation (forward), or
every row before the conv's backward, its activation backward and the layout copies of the conv's channels
(backward); a run without the conv is core throughout. The core is replaced by one fused forward row and
the module's next backward core by one fused backward row. The projections, the conv, the gated norm and the
rows before the conv stay as written. Folded into the fused rows with the scan, as the kernels take them: the
dt softplus/bias/clamp and the D skip (mamba_ssm), the gate math, the q/k L2 norm and the repeat of q/k to the
value heads (fla), Falcon-H1's SiLU(z) gate: elementwise work of O(tokens x width), a few percent of the core.

Shapes, read off the forward core (transformers 5.25's fallbacks): batch, heads, chunks and chunk from its
first cumsum, of (b, H, nc, Q[, K]); SSD head dim and state from the chunk states, a 5-D (b, ·, H, P, N) tensor
(``torch.zeros_like(states[:, :1])`` / the cat of the initial state); the delta rule's K and V from the
recurrent state, ``zeros(b, H, K, V)``. SSD groups G from the conv's channels (H·P + 2·G·N; G = H if they do
not give an integer, the per-head count the fallback runs); sequence length from the conv's input, else the
step's ``seq`` (when it fills the chunks found), else chunks x chunk; dtype the capture's. mamba_ssm's chunk is
the model's (transformers passes ``config.chunk_size``); fla's is 64.

Work: the fused rows count the products the kernels execute. For SSD they are fewer than the fallback's (it
repeats B and C to every head and passes states between all pairs of chunks); for the delta rule fla inverts
the 64 x 64 UT matrix and multiplies by it, and recomputes w, u and the states in the backward, so at some
shapes its FLOPs exceed the fallback's forward substitution, on tensor-core GEMMs instead of latency-bound
small ops (tests pin the step time and the FLOP ratio). Step memory (StepMeta) is left as captured: the
fallback's saved fp32 intermediates are not taken out. Pure functions of the op table (no torch).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import polars as pl

from trainperf.costs import OpCall, TensorMeta
from trainperf.costs.formulas.linear_attention import FLA_CHUNK
from trainperf.model.production import _runs, reassemble
from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph, StepMeta


class ScanFamily(StrEnum):
    SSD = "ssd"
    """Mamba-2 state-space duality: mamba_ssm ``mamba_chunk_scan_combined``."""
    GATED_DELTA = "gated-delta"
    """Gated DeltaNet: fla ``chunk_gated_delta_rule``."""
    KDA = "kda"
    """Kimi Delta Attention (per-channel gate): fla ``chunk_kda``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Mixer:
    """A family of mixer modules and the fused ops that replace their cores."""

    family: ScanFamily
    module_types: tuple[str, ...]
    fwd_op: str
    bwd_op: str


MIXERS = (
    Mixer(ScanFamily.SSD, ("Mamba2Mixer", "NemotronHMamba2Mixer", "BambaMixer", "FalconH1Mixer", "Zamba2MambaMixer",
                           "GraniteMoeHybridMambaLayer"),
          "trainperf::ssd_chunk_scan", "trainperf::ssd_chunk_scan_backward"),
    Mixer(ScanFamily.GATED_DELTA, ("Qwen3NextGatedDeltaNet",),
          "trainperf::chunk_gated_delta_rule", "trainperf::chunk_gated_delta_rule_backward"),
    Mixer(ScanFamily.KDA, ("KimiLinearDeltaAttention",), "trainperf::chunk_kda", "trainperf::chunk_kda_backward"),
)
"""The mixer classes of transformers 5.25 whose scans run as torch fallbacks in the zoo."""

_PRODUCTS = ("aten::bmm", "aten::mm", "aten::matmul", "aten::linalg_solve_triangular")
_STATE_OPS = ("aten::zeros", "aten::zeros_like", "aten::new_zeros", "aten::cat")
_RESHAPING = ("copy", "elementwise")


def mixer_of(module_type: str) -> Mixer | None:
    return next((m for m in MIXERS if module_type in m.module_types), None)


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """One naive core: rows ``start`` to ``end`` (positions in the op table) and the fused op replacing them."""

    start: int
    end: int
    call: OpCall
    backward: bool


# --- where a core starts and ends in its run ---

def _conv_channels(shapes: Sequence[Sequence[int]], ch: int) -> bool:
    """Whether any 3-D tensor has the conv's channels: (b, ch, L) around the conv, (b, L, ch) at the split."""
    return any(len(s) == 3 and ch in (s[1], s[2]) for s in shapes)


def _fwd_start(rows: list[dict[str, Any]]) -> int | None:
    """First core row of a forward run: after the last depthwise conv and its activation; None when the run
    holds no cumsum and product after that point."""
    convs = [i for i, r in enumerate(rows) if r["op"] == "aten::convolution"]
    s = 0
    if convs:
        c = convs[-1]
        ch = rows[c]["output_shapes"][0][1]
        s = c + 1
        while s < len(rows) and rows[s]["category"] == "elementwise" and _conv_channels(rows[s]["input_shapes"][:1], ch):
            s += 1
    ops = [r["op"] for r in rows[s:]]
    return s if "aten::cumsum" in ops and any(o in _PRODUCTS for o in ops) else None


def _bwd_end(rows: list[dict[str, Any]]) -> int | None:
    """One past the last core row of a backward run: before the conv's backward, its activation backward and
    the copies of the conv's channels next to them; None when the run holds no cumsum before that point."""
    cbs = [i for i, r in enumerate(rows) if r["op"] == "aten::convolution_backward"]
    e = len(rows)
    if cbs:
        e = cbs[-1]
        ch = rows[e]["input_shapes"][1][1]  # (grad_out, input (b, ch, L), weight, ...)
        while e > 0 and rows[e - 1]["category"] in _RESHAPING and \
                _conv_channels([*rows[e - 1]["input_shapes"], *rows[e - 1]["output_shapes"]], ch):
            e -= 1
    return e if any(r["op"] == "aten::cumsum" for r in rows[:e]) else None


# --- shapes of a forward core, and the fused calls ---

@dataclasses.dataclass(frozen=True, slots=True)
class _Core:
    """What the forward core's rows say: batch, heads, chunks, chunk, the state's two dims, gate width."""

    b: int
    h: int
    nc: int
    q: int
    d1: int
    d2: int
    gate: int


def _core_dims(core: list[dict[str, Any]], family: ScanFamily) -> _Core | None:
    cums = [r for r in core if r["op"] == "aten::cumsum" and len(r["input_shapes"][0]) >= 4]
    if not cums:
        return None
    cs = cums[0]["input_shapes"][0]  # (b, H, nc, Q) or, per channel, (b, H, nc, Q, K)
    b, h, nc, q = cs[:4]
    rank = 5 if family is ScanFamily.SSD else 4  # SSD chunk states (b, ·, H, P, N); delta state (b, H, K, V)
    for r in core:
        out = r["output_shapes"][0] if r["output_shapes"] else []
        if r["op"] in _STATE_OPS and len(out) == rank and out[0] == b and out[rank - 3] == h:
            return _Core(b=b, h=h, nc=nc, q=q, d1=out[-2], d2=out[-1], gate=cs[4] if len(cs) == 5 else 1)
    return None


def _seq(conv: dict[str, Any] | None, meta: StepMeta, nc: int, q: int) -> int:
    if conv is not None:
        return int(conv["input_shapes"][0][-1])  # (b, channels, L)
    if meta.seq and math.ceil(meta.seq / q) == nc:
        return meta.seq
    return nc * q


def _groups(conv: dict[str, Any] | None, c: _Core) -> int:
    """SSD groups from the conv's channels, H·P + 2·G·N (x, B, C); H when they do not give a divisor of H."""
    if conv is None:
        return c.h
    extra = conv["output_shapes"][0][1] - c.h * c.d1
    g, rem = divmod(extra, 2 * c.d2)
    return g if rem == 0 and g > 0 and c.h % g == 0 else c.h


def _ssd_calls(m: Mixer, c: _Core, seq: int, g: int, dt: str) -> tuple[OpCall, OpCall]:
    x = TensorMeta((c.b, seq, c.h, c.d1), dt)
    dts = TensorMeta((c.b, seq, c.h), dt)
    a = TensorMeta((c.h,), "float32")
    bc = TensorMeta((c.b, seq, g, c.d2), dt)
    vec = TensorMeta((c.h,), dt)  # D, dt_bias
    fwd = OpCall(m.fwd_op, (x, dts, a, bc, bc, c.q, vec, None, vec), outputs=(x,))
    bwd = OpCall(m.bwd_op, (x, x, dts, a, bc, bc, x, c.q, vec, None, vec), outputs=(x, dts, a, bc, bc, vec, vec))
    return fwd, bwd


def _delta_calls(m: Mixer, c: _Core, seq: int, dt: str) -> tuple[OpCall, OpCall]:
    qk = TensorMeta((c.b, seq, c.h, c.d1), dt)  # q, k repeated to the value heads, as the callers pass them
    v = TensorMeta((c.b, seq, c.h, c.d2), dt)
    g = TensorMeta((c.b, seq, c.h) if c.gate == 1 else (c.b, seq, c.h, c.gate), "float32")
    beta = TensorMeta((c.b, seq, c.h), dt)
    a = TensorMeta((c.b, seq, c.h, min(FLA_CHUNK, seq)), dt)  # solve_tril's output, saved for backward
    scale = c.d1 ** -0.5
    # use_qk_l2norm_in_kernel=True: Qwen3-Next and Kimi Linear normalize q and k inside the call
    fwd = OpCall(m.fwd_op, (qk, qk, v, g, beta, scale, None, False, True), outputs=(v,))
    bwd = OpCall(m.bwd_op, (v, qk, qk, v, g, beta, a, scale, None, True), outputs=(qk, qk, v, g, beta))
    return fwd, bwd


def _calls(m: Mixer, rows: list[dict[str, Any]], start: int, meta: StepMeta) -> tuple[OpCall, OpCall] | None:
    c = _core_dims(rows[start:], m.family)
    if c is None:
        return None
    conv = next((r for r in reversed(rows[:start]) if r["op"] == "aten::convolution"), None)
    seq = _seq(conv, meta, c.nc, c.q)
    if m.family is ScanFamily.SSD:
        return _ssd_calls(m, c, seq, _groups(conv, c), meta.dtype)
    return _delta_calls(m, c, seq, meta.dtype)


# --- the rewrite ---

def matches(graph: OpGraph) -> list[Match]:
    """Every naive core of the step, forward and backward, with its fused op, in step order (the scans here and
    MiniMax's block-wise lightning attention, production_lightning.py)."""
    from trainperf.model import production_lightning  # it imports Match from here

    return sorted(_scan_matches(graph) + production_lightning.matches(graph), key=lambda m: m.start)


def _scan_matches(graph: OpGraph) -> list[Match]:
    types = [t for m in MIXERS for t in m.module_types]
    ops = _runs(graph.ops).with_row_index("_pos").filter(pl.col("module_type").is_in(types))
    out: list[Match] = []
    pending: dict[str, list[OpCall]] = {}  # module -> backward calls awaiting their run (LIFO)
    for (_run,), run in ops.group_by("run", maintain_order=True):
        rows = run.to_dicts()
        first, m = rows[0], mixer_of(rows[0]["module_type"])
        assert m is not None
        if first["phase"] == "fwd":
            start = _fwd_start(rows)
            calls = _calls(m, rows, start, graph.meta) if start is not None else None
            if start is not None and calls is not None:
                pending.setdefault(first["module"], []).append(calls[1])
                out.append(Match(rows[start]["_pos"], rows[-1]["_pos"] + 1, calls[0], backward=False))
        elif first["phase"] == "bwd" and pending.get(first["module"]):
            end = _bwd_end(rows)
            if end is not None:
                out.append(Match(rows[0]["_pos"], rows[end - 1]["_pos"] + 1, pending[first["module"]].pop(),
                                 backward=True))
    return out


def _fused_row(template: dict[str, Any], call: OpCall) -> dict[str, Any]:
    """One OpGraph row for a fused call (fields other than the cost and shapes from ``template``)."""
    from trainperf.model.trace_ops import op_row  # the one OpCall -> OpGraph-row mapping

    row = op_row(call)
    assert row is not None, f"no cost formula for {call.op}"
    keep = {k: template[k] for k in ("idx", "phase", "module", "module_type", "layer")}
    return {**row, **keep, "output_shapes": [list(t.shape) for t in call.outputs],
            "output_dtypes": [t.dtype for t in call.outputs]}


def naive_rows(graph: OpGraph) -> pl.DataFrame:
    """The rows ``fuse_scans`` replaces (every naive core, forward and backward)."""
    hit = [False] * graph.ops.height
    for s in matches(graph):
        hit[s.start:s.end] = [True] * (s.end - s.start)
    return graph.ops.filter(pl.Series(hit, dtype=pl.Boolean))


def fuse_scans(graph: OpGraph) -> tuple[OpGraph, int]:
    """``graph`` with every naive mixer core (forward, and the backward of the same module after it) replaced
    by the fused kernel production runs, and how many mixer calls were."""
    spans = matches(graph)
    if not spans:
        return graph, 0
    parts: list[pl.DataFrame] = []
    at = 0
    for s in spans:
        parts.append(graph.ops.slice(at, s.start - at).select(list(OPGRAPH_SCHEMA)))
        template = graph.ops.row(s.start, named=True)
        parts.append(pl.DataFrame([_fused_row(template, s.call)], schema=OPGRAPH_SCHEMA))
        at = s.end
    parts.append(graph.ops.slice(at).select(list(OPGRAPH_SCHEMA)))
    return reassemble(graph, parts), sum(1 for s in spans if not s.backward)
