"""Analytic per-rank op tables in the OpGraph schema (opgraph.py), with no torch.

For a TransformerArch sharded by a plan (tp with sequence parallel, cp, ep/etp) this writes the ops one
rank runs for one micro-batch through one layer of each kind (dense, MoE) and through the embedding /
LM head / loss, forward and backward, with sharded shapes. The same rows a capture of the sharded model
would give, at the granularity the step model needs (one row per GEMM / attention / fused elementwise
group). Communication is not in these tables: parallel.estimate adds collectives from the plan.

FLOPs: GEMM 2mnk; attention by the non-causal convention of costs/formulas/attention.py (forward
2·B·H·Lq·Lkv·(D+Dv), backward twice that) with ``attn_causal`` set so the time model skips the masked half.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from trainperf.opgraph import OPGRAPH_SCHEMA
from trainperf.parallel.arch import TransformerArch
from trainperf.vocab import OpCategory as C
from trainperf.vocab import Phase, Precision

ACT = "bfloat16"


@dataclass(frozen=True, slots=True)
class Shard:
    """Per-rank shapes of one micro-batch: what the op tables depend on (cache key)."""

    mbs: int
    seq: int  # full sequence length
    tp: int
    cp: int
    sp: bool
    ep: int
    etp: int
    precision: str
    fused: bool = False
    doc_len: int = 0  # packed documents: attention span per document (0 = the whole sequence)
    attention: str = "flash2"  # attention kernel family (model.ExecConfig.attention)


class _Rows:
    """Accumulates OpGraph rows as column lists (fast, no per-row dicts)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cols: dict[str, list[object]] = {k: [] for k in OPGRAPH_SCHEMA}

    def add(self, *, op: str, cat: C, phase: Phase, module: str, flops: float, rd: float, wr: float,
            kernels: int = 1, math: str = "", gemm: tuple[int, int, int, int] = (0, 0, 0, 0),
            attn: tuple[int, int, int, int, int, int, bool, bool] | None = None,
            shapes: list[list[int]] | None = None, dtype: str = ACT) -> None:
        c = self.cols
        c["idx"].append(len(c["idx"]))
        c["op"].append(op)
        c["overload"].append("default")
        c["category"].append(cat.value)
        c["phase"].append(phase.value)
        c["module"].append(module)
        c["module_type"].append(self.kind)
        c["layer"].append(0)
        c["input_shapes"].append(shapes or [])
        c["input_dtypes"].append([dtype] * len(shapes or []))
        c["output_shapes"].append([])
        c["output_dtypes"].append([])
        c["flops"].append(float(flops))
        c["bytes_read"].append(float(rd))
        c["bytes_written"].append(float(wr))
        c["kernels"].append(kernels)
        c["math_dtype"].append(math)
        for k, v in zip(("gemm_batch", "gemm_m", "gemm_n", "gemm_k"), gemm, strict=True):
            c[k].append(v)
        # Megatron pads the vocabulary to a multiple of 128 x tp (--make-vocab-size-divisible-by) and model
        # widths are multiples of 64: the planner's GEMMs are aligned
        c["gemm_align"].append(16 if gemm[1] > 0 else 0)
        a = attn or (0, 0, 0, 0, 0, 0, False, False)
        for k, v in zip(("attn_batch", "attn_heads", "attn_q", "attn_kv", "attn_dim", "attn_dim_v", "attn_causal",
                         "attn_backward"), a, strict=True):
            c[k].append(v)
        c["covered"].append(True)

    def gemm(self, module: str, m: int, n: int, k: int, precision: str, batch: int = 1, bwd: bool = True) -> None:
        """Forward GEMM (m x k) @ (k x n) and, when ``bwd``, its dgrad and wgrad. fp8/fp4 operand casts are
        not rows here: the single-GPU model adds them for low-precision GEMMs (model/ops.py)."""
        dt, b_in = Precision(precision).dtype, Precision(precision).bytes
        passes = [(Phase.FWD, m, n, k, "")]
        if bwd:
            passes += [(Phase.BWD, m, k, n, ".dgrad"), (Phase.BWD, k, n, m, ".wgrad")]
        for ph, mm, nn, kk, sfx in passes:
            self.add(op="aten::mm" if batch == 1 else "aten::bmm", cat=C.MATMUL, phase=ph, module=module + sfx,
                     flops=2.0 * batch * mm * nn * kk, rd=batch * (mm * kk + kk * nn) * b_in,
                     wr=batch * mm * nn * 2, math=dt, gemm=(batch, mm, nn, kk),
                     shapes=[[batch, mm, kk], [batch, kk, nn]], dtype=dt)

    def elementwise(self, module: str, numel: float, reads: float, writes: float, cat: C = C.ELEMENTWISE,
                    kernels: int = 1, bwd_factor: float = 1.5) -> None:
        """A fused memory-bound group: ``reads``/``writes`` tensors of ``numel`` 16-bit elements each."""
        self.add(op="aten::add", cat=cat, phase=Phase.FWD, module=module, flops=numel * reads,
                 rd=2 * numel * reads, wr=2 * numel * writes, kernels=kernels)
        self.add(op="aten::add", cat=cat, phase=Phase.BWD, module=module, flops=numel * reads * bwd_factor,
                 rd=2 * numel * reads * bwd_factor, wr=2 * numel * (writes + 1), kernels=kernels)

    def attention(self, b: int, heads: int, q: int, kv: int, d: int, dv: int) -> None:
        fwd = 2.0 * b * heads * q * kv * (d + dv)
        io = 2.0 * b * heads * (q * d + 2 * kv * d + q * dv)
        for ph, fl, bwd in ((Phase.FWD, fwd, False), (Phase.BWD, 2 * fwd, True)):
            self.add(op="aten::_scaled_dot_product_flash_attention" + ("_backward" if bwd else ""),
                     cat=C.ATTENTION, phase=ph, module="attn.core", flops=fl, rd=io * (2 if bwd else 1),
                     wr=io, math=ACT, attn=(b, heads, q, kv, d, dv, True, bwd))

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.cols, schema=OPGRAPH_SCHEMA)


def _attention_block(r: _Rows, a: TransformerArch, s: Shard) -> None:
    t = s.mbs * s.seq // s.cp  # tokens on this rank (full, after the SP all-gather)
    t_sp = t // s.tp if s.sp else t
    h, tp = a.hidden, s.tp
    nq, nkv = a.n_heads // tp, max(1, a.n_kv_heads // tp)
    d, dv = a.hd, a.hd_v
    r.elementwise("attn.norm", t_sp * h, 1, 1, C.NORM)
    if a.kv_lora_rank:  # MLA: low-rank down projections are replicated, up projections split by heads
        if a.q_lora_rank:
            r.gemm("attn.q_down", t, a.q_lora_rank, h, s.precision)
            r.gemm("attn.q_up", t, nq * d, a.q_lora_rank, s.precision)
        else:
            r.gemm("attn.q", t, nq * d, h, s.precision)
        r.gemm("attn.kv_down", t, a.kv_lora_rank + 64, h, s.precision)
        r.gemm("attn.kv_up", t, nq * (d - 64 + dv), a.kv_lora_rank, s.precision)
        kv_heads = nq
    else:
        r.gemm("attn.qkv", t, (nq + 2 * nkv) * d, h, s.precision)
        kv_heads = nkv
    r.elementwise("attn.rope", t * (nq + kv_heads) * d, 1, 1)
    if s.doc_len and s.doc_len < s.seq:  # packed: each document attends only to itself (varlen kernel)
        r.attention(s.mbs * s.seq // s.doc_len, nq, s.doc_len // s.cp or 1, s.doc_len, d, dv)
    else:
        r.attention(s.mbs, nq, s.seq // s.cp, s.seq, d, dv)
    r.gemm("attn.out", t, h, nq * dv, s.precision)
    r.elementwise("attn.residual", t_sp * h, 2, 1)


def _mlp(r: _Rows, a: TransformerArch, s: Shard, name: str, tokens: int, width: int, batch: int = 1) -> None:
    up = width * (2 if a.gated_mlp else 1)
    r.gemm(f"{name}.up", tokens // batch, up, a.hidden, s.precision, batch=batch)
    r.elementwise(f"{name}.act", tokens * width, 2 if a.gated_mlp else 1, 1)
    r.gemm(f"{name}.down", tokens // batch, a.hidden, width, s.precision, batch=batch)


@lru_cache(maxsize=4096)
def layer_ops(arch: TransformerArch, shard: Shard, kind: str) -> pl.DataFrame:
    """One rank's ops for one micro-batch through one layer: kind = dense | moe | head."""
    r = _Rows(kind)
    s, a = shard, arch
    t = s.mbs * s.seq // s.cp
    t_sp = t // s.tp if s.sp else t
    if kind == "head":
        r.elementwise("embed.lookup", t_sp * a.hidden, 1, 1, C.EMBEDDING)
        r.elementwise("head.norm", t_sp * a.hidden, 1, 1, C.NORM)
        r.gemm("head.logits", t, a.vocab // s.tp, a.hidden, "bf16")  # LM head stays 16-bit in fp8 recipes
        # cross-entropy in fp32: upcast the logits, log-softmax (max, exp-sum), loss; backward writes the
        # fp32 softmax grad and casts it back: ~4 reads + 4 writes of 16-bit-element size per logit
        r.elementwise("head.loss", t * a.vocab // s.tp, 4, 4, C.REDUCTION, kernels=4)
        return r.frame()
    _attention_block(r, a, s)
    r.elementwise("mlp.norm", t_sp * a.hidden, 1, 1, C.NORM)
    if kind == "dense":
        _mlp(r, a, s, "mlp", t, a.ffn_hidden // s.tp)
    else:
        e_local = a.moe_experts // s.ep
        routed = t_sp * a.moe_topk * s.etp  # tokens this rank's experts see (balanced routing)
        r.gemm("moe.router", t_sp, a.moe_experts, a.hidden, "bf16")
        r.elementwise("moe.permute", routed * a.hidden, 1, 1, C.COPY, kernels=2)
        _mlp(r, a, s, "moe.experts", max(routed, e_local), a.moe_ffn_hidden // s.etp, batch=e_local)
        r.elementwise("moe.unpermute", routed * a.hidden, 1, 1, C.COPY, kernels=2)
        if a.shared_experts:
            _mlp(r, a, s, "moe.shared", t, a.shared_experts * a.moe_ffn_hidden // s.tp)
    r.elementwise("mlp.residual", t_sp * a.hidden, 2, 1)
    return r.frame()
