"""The captured step rewritten with the kernels production training runs (`--kernels production`).

A capture records what PyTorch executes where it was captured. Some of that is not what a training job on
a GPU runs, so each rewrite here replaces a span of ops with the one kernel production uses, priced by the
same cost formulas (costs/) as a captured op of that kind:

- Unfused attention: HF eager attention, or SDPA's math path (a CPU capture with dropout). These run as
  bmm (QK^T), a mask/scale, softmax, dropout and bmm (PV), with their backward. The rewrite makes them one
  flash-attention forward and one backward (`aten::_scaled_dot_product_flash_attention[_backward]`), with
  the shapes read off the two products: batch x heads = the bmm batch, Lq = M, Lk = N of QK^T, head dims =
  K of QK^T and N of PV.

- Sparse embedding tables (recommendation models, `embedding_bag` lookups): the capture computes dense
  table gradients and a dense optimizer update over every row (sparse gradients need a data-dependent
  coalesce, which fake tensors cannot run). TorchRec runs FBGEMM's table-batched embedding instead, with
  the optimizer fused into the backward (`EmbeddingBagCollection` with a fused RowWiseAdagrad). It reads
  each lookup's gradient and updates only the rows looked up: the weight row and one momentum value per
  row. The rewrite replaces each table's dense backward with that fused kernel. It prices the touched rows
  at the lookups, an upper bound with no duplicate indices coalesced. It also takes the tables' share out
  of the dense optimizer ops.

- Naive chunked scans of hybrid state-space / linear-attention mixers (transformers' torch fallbacks for
  Mamba-2 SSD, the gated delta rule, Kimi Delta Attention): one fused mamba_ssm / fla kernel row forward and
  one backward per mixer call, in production_ssm.py (which says what it matches and where shapes come from).

What stays as written: ops no rewrite recognizes. The flash and embedding rewrites never add work: the fused
kernel does the same products without materializing the scores. The fused delta-rule scan can execute more
FLOPs than its torch fallback at full size (production_ssm.py says why). Pure functions of the op table (no
torch).
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum
from typing import Any

import polars as pl

from trainperf.costs import OpCall, TensorMeta, dtype_bytes
from trainperf.costs.formulas.optimizer import _CHUNK
from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph


class Kernels(StrEnum):
    AS_WRITTEN = "as-written"
    """The captured ops as they are."""
    PRODUCTION = "production"
    """The rewrites of this module applied."""


_CAUSAL_DOMAINS = ("llm", "moe", "vlm")
"""Zoo domains whose attention is causal (decoders; a VLM's vision tower is counted causal too, which only
lowers its fused time estimate by the masked half of its few vision layers)."""


def causal_attention(workload: str) -> bool:
    """Whether a zoo workload's attention is causal; False for files and unknown names."""
    from trainperf.workloads import get_workload
    from trainperf.workloads.registry import UnknownWorkloadError

    try:
        return get_workload(workload).domain.value in _CAUSAL_DOMAINS
    except (UnknownWorkloadError, KeyError, ValueError):
        return False


_SOFTMAX = ("aten::_softmax", "aten::softmax", "aten::_safe_softmax")
_SOFTMAX_BWD = ("aten::_softmax_backward_data",)
_PRODUCTS = ("aten::bmm", "aten::baddbmm")


@dataclasses.dataclass(frozen=True, slots=True)
class _Dims:
    bh: int
    lq: int
    lk: int
    d: int
    dv: int
    dtype: str


def _runs(ops: pl.DataFrame) -> pl.DataFrame:
    """ops with ``run``: consecutive rows of one module in one phase share a run id (one module call)."""
    key = pl.col("module") + "|" + pl.col("phase")
    return ops.with_columns(run=(key != key.shift(1)).fill_null(True).cum_sum())


def _forward_dims(run: pl.DataFrame) -> _Dims | None:
    """Shapes of an unfused attention forward: the bmm before the softmax (QK^T) and the first after it
    whose K is QK^T's N (PV); None when the run is not one."""
    ops = run["op"].to_list()
    if not any(o in _SOFTMAX for o in ops):
        return None
    s = next(i for i, o in enumerate(ops) if o in _SOFTMAX)
    before = [i for i in range(s) if ops[i] in _PRODUCTS]
    if not before:
        return None
    qk = run.row(before[-1], named=True)
    for i in range(s + 1, len(ops)):
        pv = run.row(i, named=True)
        if ops[i] in _PRODUCTS and pv["gemm_k"] == qk["gemm_n"] and pv["gemm_m"] == qk["gemm_m"] \
                and pv["gemm_batch"] == qk["gemm_batch"]:
            return _Dims(bh=qk["gemm_batch"], lq=qk["gemm_m"], lk=qk["gemm_n"], d=qk["gemm_k"], dv=pv["gemm_n"],
                         dtype=qk["math_dtype"] or "bfloat16")
    return None


def _fused_row(template: dict[str, Any], dims: _Dims, *, backward: bool, causal: bool) -> dict[str, Any]:
    """One OpGraph row for the flash kernel of ``dims`` (fields other than the cost from ``template``)."""
    q = TensorMeta((dims.bh, 1, dims.lq, dims.d), dims.dtype)
    k = TensorMeta((dims.bh, 1, dims.lk, dims.d), dims.dtype)
    v = TensorMeta((dims.bh, 1, dims.lk, dims.dv), dims.dtype)
    o = TensorMeta((dims.bh, 1, dims.lq, dims.dv), dims.dtype)
    lse = TensorMeta((dims.bh, 1, dims.lq), "float32")
    if backward:
        op = "aten::_scaled_dot_product_flash_attention_backward"
        call = OpCall(op=op, args=(o, q, k, v, o, lse, None, None, dims.lq, dims.lk, 0.0, causal))
    else:
        op = "aten::_scaled_dot_product_flash_attention"
        call = OpCall(op=op, args=(q, k, v, 0.0, causal))
    from trainperf.model.trace_ops import op_row  # the one OpCall -> OpGraph-row mapping (traces use it too)

    row = op_row(call)
    assert row is not None
    keep = {k: template[k] for k in ("idx", "phase", "module", "module_type", "layer")}
    return {**row, **keep}


def fuse_attention(graph: OpGraph, *, causal: bool = False) -> tuple[OpGraph, int]:
    """``graph`` with every unfused attention call (forward, and the backward of the same module after
    it) replaced by flash-attention kernels, and how many calls were; ``causal``: the model's attention is
    causal (decoders), so the flash kernel skips the masked half."""
    ops = _runs(graph.ops)
    keep = []
    fused = 0
    pending: dict[str, list[_Dims]] = {}  # module -> forward dims awaiting their backward (LIFO)
    for (_run,), run in ops.group_by("run", maintain_order=True):
        first = run.row(0, named=True)
        module = first["module"]
        dims = _forward_dims(run)
        if dims is not None:
            pending.setdefault(module, []).append(dims)
            keep.append(pl.DataFrame([_fused_row(first, dims, backward=False, causal=causal)],
                                     schema=OPGRAPH_SCHEMA))
            fused += 1
            continue
        if first["phase"] == "bwd" and pending.get(module) and run["op"].is_in(_SOFTMAX_BWD).any():
            dims = pending[module].pop()
            keep.append(pl.DataFrame([_fused_row(first, dims, backward=True, causal=causal)], schema=OPGRAPH_SCHEMA))
            continue
        keep.append(run.select(list(OPGRAPH_SCHEMA)))
    if not fused:
        return graph, 0
    return reassemble(graph, keep), fused


def reassemble(graph: OpGraph, parts: list[pl.DataFrame]) -> OpGraph:
    """``graph`` with its op table made of ``parts`` (OpGraph-schema frames in step order), renumbered."""
    out = pl.concat(parts, how="vertical").with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("idx"))
    extra = [c for c in graph.ops.columns if c not in OPGRAPH_SCHEMA]
    if extra:  # columns beyond the schema (a trace's host_copy) do not survive a rewrite of their rows
        out = out.with_columns(*(pl.lit(None).alias(c) for c in extra))
    return dataclasses.replace(graph, ops=out)


_BAG_FWD = ("aten::_embedding_bag", "aten::embedding_bag", "aten::_embedding_bag_forward_only")
_BAG_BWD = ("aten::_embedding_bag_backward", "aten::_embedding_bag_dense_backward")
ROWWISE_STATE_BYTES = 4.0
"""Rowwise Adagrad keeps one fp32 momentum per row (FBGEMM EmbOptimType.EXACT_ROWWISE_ADAGRAD)."""
ROWWISE_FLOPS_PER_ELEM = 4.0
"""Per element of a touched row: the squared gradient summed into the row's momentum, the scale, the
multiply-add of the update."""


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def sparse_embeddings(graph: OpGraph) -> tuple[OpGraph, int]:
    """``graph`` with every embedding-bag table's dense backward and dense optimizer update replaced by a
    fused rowwise-Adagrad backward over the looked-up rows, and how many tables were."""
    ops = graph.ops
    fwd = ops.filter(pl.col("op").is_in(_BAG_FWD) & (pl.col("phase") == "fwd"))
    if fwd.height == 0:
        return graph, 0
    # each table: its weight shape and element size, and the lookups of its one forward call
    tables: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for r in fwd.iter_rows(named=True):
        w, idx = r["input_shapes"][0], r["input_shapes"][1]
        wbytes = float(dtype_bytes(r["input_dtypes"][0]))
        tables.setdefault((w[0], w[1]), []).append((_numel(idx), wbytes))
    table_numel = {shape: shape[0] * shape[1] for shape in tables}
    rows: list[dict[str, Any]] = []
    fused = 0
    for r in ops.iter_rows(named=True):
        if r["op"] in _BAG_BWD and r["output_shapes"]:
            key = (r["output_shapes"][0][0], r["output_shapes"][0][1])
            if tables.get(key):
                lookups, wbytes = tables[key].pop(0)
                dim = key[1]
                grad_out = _numel(r["input_shapes"][0]) * wbytes
                rows.append({**r, "op": "fbgemm::split_embedding_backward_rowwise_adagrad", "overload": "",
                             "flops": ROWWISE_FLOPS_PER_ELEM * lookups * dim,
                             "bytes_read": grad_out + lookups * (dim * wbytes + ROWWISE_STATE_BYTES + 8),
                             "bytes_written": lookups * (dim * wbytes + ROWWISE_STATE_BYTES), "kernels": 1})
                fused += 1
                continue
        if r["phase"] == "optimizer" and r["input_shapes"]:
            sizes = [_numel(s) for s in r["input_shapes"]]
            total = sum(sizes)
            tab = sum(n for s, n in zip(r["input_shapes"], sizes, strict=True)
                      if len(s) == 2 and (s[0], s[1]) in table_numel)
            if total and tab:
                keep = 1.0 - tab / total  # the dense update of the rest (MLPs) stays
                # multi_tensor_apply launches grow with 64K-element chunks: the tables' chunks go with them
                chunks = [math.ceil(n / _CHUNK) for n in sizes]
                tab_chunks = sum(c for sh, c in zip(r["input_shapes"], chunks, strict=True)
                                 if len(sh) == 2 and (sh[0], sh[1]) in table_numel)
                r = {**r, "flops": r["flops"] * keep, "bytes_read": r["bytes_read"] * keep,
                     "bytes_written": r["bytes_written"] * keep,
                     "kernels": max(1, math.ceil(r["kernels"] * (1 - tab_chunks / max(sum(chunks), 1))))}
        rows.append(r)
    if not fused:
        return graph, 0
    out = pl.DataFrame(rows, schema=graph.ops.schema)
    shapes = [(r["input_shapes"][0][0], r["input_shapes"][0][1]) for r in fwd.iter_rows(named=True)]
    meta = _sparse_meta(graph.meta, rows=sum(n for n, _ in shapes), elems=sum(n * d for n, d in shapes))
    return dataclasses.replace(graph, ops=out, meta=meta), fused


def _sparse_meta(meta: Any, *, rows: int, elems: int) -> Any:
    """Step memory with the tables updated in place: no dense table gradient, and rowwise state (one fp32
    per row) instead of the optimizer's per-element state for them."""
    share = min(elems / max(meta.n_params, 1), 1.0)
    return dataclasses.replace(meta, grad_bytes=meta.grad_bytes * (1 - share),
                               optimizer_state_bytes=meta.optimizer_state_bytes * (1 - share)
                               + rows * ROWWISE_STATE_BYTES)


def production(graph: OpGraph, *, causal: bool = False) -> OpGraph:
    """Every rewrite applied: unfused attention -> flash attention, dense embedding-table updates -> fused
    rowwise sparse ones, naive state-space / linear-attention scans -> fused scans (production_ssm.py),
    all-experts MoE products -> routed grouped GEMMs (production_moe.py)."""
    from trainperf.model.production_moe import route_experts  # these import this module: not at its top
    from trainperf.model.production_ssm import fuse_scans

    return route_experts(fuse_scans(sparse_embeddings(fuse_attention(graph, causal=causal)[0])[0])[0])[0]
