"""Recorded rows -> the OpGraph table (columns of opgraph.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from trainperf.capture.recorder import Row, category_of
from trainperf.costs import cost
from trainperf.costs.types import TensorMeta
from trainperf.opgraph import OPGRAPH_SCHEMA


@dataclass(frozen=True)
class Stack:
    """A stack of repeated blocks found in the module tree: fqn of the ModuleList and its block count."""

    module_list: str
    n: int
    offset: int  # global layer index of its first block


def find_stacks(names_in_order: Sequence[str], explicit: Sequence[str] = ()) -> list[Stack]:
    """Stacks of blocks: the given ModuleList fqns, else every ``<path>.<int>`` family with >= 2 members."""
    counts: dict[str, int] = {}
    order: list[str] = []
    pat = re.compile(r"^(.*?)\.(\d+)$")
    for n in names_in_order:
        m = pat.match(n)
        if not m:
            continue
        parent = m.group(1)
        if explicit and parent not in explicit:
            continue
        if parent not in counts:
            counts[parent] = 0
            order.append(parent)
        counts[parent] = max(counts[parent], int(m.group(2)) + 1)
    # keep outermost stacks only (a block's inner ModuleLists, e.g. MoE experts, are not layers)
    keep = [p for p in order if counts[p] >= (1 if explicit else 2)
            and not any(p != q and p.startswith(q + ".") for q in order if counts[q] >= (1 if explicit else 2))]
    stacks, off = [], 0
    for p in keep:
        stacks.append(Stack(p, counts[p], off))
        off += counts[p]
    return stacks


def layer_of(module: str, stacks: Sequence[Stack]) -> tuple[int, int]:
    """(stack index, block index within the stack) of a module fqn, or (-1, -1)."""
    for si, s in enumerate(stacks):
        prefix = s.module_list + "."
        if module.startswith(prefix):
            rest = module[len(prefix):]
            head = rest.split(".", 1)[0]
            if head.isdigit():
                return si, int(head)
    return -1, -1


def _shapes(ts: Sequence[TensorMeta]) -> list[list[int]]:
    return [list(t.shape) for t in ts]


def rows_to_frame(rows: Sequence[Row], module_types: dict[str, str], stacks: Sequence[Stack]) -> pl.DataFrame:
    cols: dict[str, list] = {c: [] for c in OPGRAPH_SCHEMA}
    for i, r in enumerate(rows):
        c = cost(r.call)
        mtype = module_types.get(r.module, "")
        si, bi = layer_of(r.module, stacks)
        ins = r.call.tensors()
        cols["idx"].append(i)
        cols["op"].append(r.call.op)
        cols["overload"].append("")
        cols["category"].append(category_of(c.category if c else None, mtype, r.phase).value)
        cols["phase"].append(r.phase.value)
        cols["module"].append(r.module)
        cols["module_type"].append(mtype)
        cols["layer"].append(stacks[si].offset + bi if si >= 0 else -1)
        cols["input_shapes"].append(_shapes(ins))
        cols["input_dtypes"].append([t.dtype for t in ins])
        cols["output_shapes"].append(_shapes(r.call.outputs))
        cols["output_dtypes"].append([t.dtype for t in r.call.outputs])
        cols["flops"].append(c.flops if c else 0.0)
        cols["bytes_read"].append(c.bytes_read if c else 0.0)
        cols["bytes_written"].append(float(c.bytes_written) if c else 0.0)
        cols["kernels"].append(c.kernels if c else 1)
        cols["math_dtype"].append(c.math_dtype or "" if c else "")
        g, a = (c.gemm, c.attention) if c else (None, None)
        cols["gemm_batch"].append(g.batch if g else 0)
        cols["gemm_m"].append(g.m if g else 0)
        cols["gemm_n"].append(g.n if g else 0)
        cols["gemm_k"].append(g.k if g else 0)
        cols["gemm_align"].append(g.align if g else 0)
        cols["attn_batch"].append(a.batch if a else 0)
        cols["attn_heads"].append(a.heads if a else 0)
        cols["attn_q"].append(a.q_len if a else 0)
        cols["attn_kv"].append(a.kv_len if a else 0)
        cols["attn_dim"].append(a.head_dim if a else 0)
        cols["attn_dim_v"].append(a.head_dim_v if a else 0)
        cols["attn_causal"].append(bool(a.causal) if a else False)
        cols["attn_backward"].append(bool(a.backward) if a else False)
        cols["covered"].append(c is not None)
    return pl.DataFrame(cols, schema=OPGRAPH_SCHEMA)
