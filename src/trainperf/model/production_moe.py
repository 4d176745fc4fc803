"""`--kernels production` for MoE layers written as dense all-experts products: routed grouped GEMMs.

transformers' ``Llama4TextExperts`` runs every token through every expert: the tokens are repeated E times,
scaled by the router scores (zero for the experts a token is not routed to) and multiplied as one ``bmm``
over the expert axis (gate/up, then down), so it does E / top-k times the routed work (16x for Llama 4
Scout's 16 experts at top-1). Production MoE training dispatches each token to its top-k experts only and
runs the experts as grouped GEMMs (Megatron-Core's TEGroupedMLP, torch ``_grouped_mm``; Llama 4's own
training code), so the rewrite replaces each expert product with the grouped GEMMs of the routed tokens:

- forward ``x (T*k, K) @ W (E, K, N)`` as ``_grouped_mm`` (2d x 3d);
- backward: the input gradient ``dy (T*k, N) @ W^T (E, N, K)`` and the weight gradient, ``x^T (K, T*k) @
  dy (T*k, N)`` split by expert (2d x 2d), as autograd runs ``_grouped_mm``'s backward;
- the module's elementwise work (the repeat, the router-score scaling, the activation and gating, the sum
  over experts, and their backward) shrinks to the routed tokens: k / E of the rows' FLOPs and bytes.

T (tokens) and k (top-k) come from the router's ``aten::topk`` in the same layer (input (T, E), output
(T, k)); E, K and N from the forward products. Balanced routing is assumed (T*k / E tokens per expert on
average); the permutation kernels production adds are not priced. Pure functions of the op table.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.costs import OpCall, TensorMeta
from trainperf.model.production import reassemble
from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph

ALL_EXPERTS_MODULES = ("Llama4TextExperts",)
"""Expert modules that multiply every token by every expert (transformers' Llama 4)."""
_MOE_PARENT_OPS = ("aten::repeat", "aten::mul", "aten::sum", "aten::clone")
"""The parent MoE block's ops on the repeated (E * T) tokens, rescaled with the experts."""


def _routing(ops: pl.DataFrame) -> dict[int, tuple[int, int, int]]:
    """Per layer, (tokens T, experts E, top-k) from its router's first forward topk."""
    out: dict[int, tuple[int, int, int]] = {}
    tk = ops.filter((pl.col("op") == "aten::topk") & (pl.col("phase") == "fwd") & (pl.col("layer") >= 0))
    for r in tk.iter_rows(named=True):
        (t, e), k = r["input_shapes"][0][-2:], r["output_shapes"][0][-1]
        if r["layer"] not in out and 0 < k < e:
            out[r["layer"]] = (int(t), int(e), int(k))
    return out


def _row(call: OpCall, template: dict[str, Any]) -> dict[str, Any]:
    from trainperf.model.trace_ops import op_row  # the one OpCall -> OpGraph-row mapping

    row = op_row(call)
    assert row is not None
    return {**row, **{k: template[k] for k in ("idx", "phase", "module", "module_type", "layer")}}


def _grouped(fwd: dict[str, Any], routed: int, template: dict[str, Any], backward: bool) -> list[dict[str, Any]]:
    """The grouped GEMMs of one forward expert product ``fwd`` ((E, M, K) x (E, K, N)) over ``routed``
    tokens: the forward, or the backward's input and weight gradients."""
    (e, _, k), (_, _, n) = fwd["input_shapes"][0], fwd["input_shapes"][1]
    dt = fwd["math_dtype"] or "bfloat16"
    offs = TensorMeta((e,), "int32")
    if not backward:
        return [_row(OpCall("aten::_grouped_mm", (TensorMeta((routed, k), dt), TensorMeta((e, k, n), dt), offs)),
                     template)]
    dgrad = OpCall("aten::_grouped_mm", (TensorMeta((routed, n), dt), TensorMeta((e, n, k), dt), offs))
    wgrad = OpCall("aten::_grouped_mm", (TensorMeta((k, routed), dt), TensorMeta((routed, n), dt), offs))
    return [_row(dgrad, template), _row(wgrad, template)]


def route_experts(graph: OpGraph) -> tuple[OpGraph, int]:
    """``graph`` with every all-experts MoE layer's products replaced by routed grouped GEMMs (module
    docstring), and how many layers were rewritten."""
    ops = graph.ops
    experts = ops["module_type"].is_in(ALL_EXPERTS_MODULES)
    if not experts.any():
        return graph, 0
    exp_modules = sorted(set(ops.filter(experts)["module"].to_list()))
    routing = _routing(ops)
    route = pl.DataFrame({"layer": list(routing), "_f": [k / e for (_, e, k) in routing.values()]},
                         schema={"layer": pl.Int32, "_f": pl.Float64})
    in_exp = pl.any_horizontal(pl.col("module") == m for m in exp_modules) | pl.any_horizontal(
        pl.col("module").str.starts_with(m + ".") for m in exp_modules)
    parent = pl.col("module").is_in([m.rsplit(".", 1)[0] for m in exp_modules]) & pl.col("op").is_in(_MOE_PARENT_OPS)
    t = ops.join(route, on="layer", how="left").with_columns(_exp=in_exp, _key=pl.col("idx").cast(pl.Float64))
    product = pl.col("_exp") & (pl.col("op") == "aten::bmm") & pl.col("_f").is_not_null()
    new: list[dict[str, Any]] = []
    done: set[int] = set()
    for module in exp_modules:
        rows = t.filter(product & (pl.col("module") == module))
        fwd = rows.filter(pl.col("phase") == "fwd").to_dicts()
        bwd = rows.filter(pl.col("phase") == "bwd").to_dicts()
        if not fwd or len(bwd) != 2 * len(fwd):
            continue  # not the all-experts pattern this rewrite knows: leave the module as written
        tok, _, k = routing[fwd[0]["layer"]]
        for prod in fwd:
            new += [{**x, "_key": prod["_key"]} for x in _grouped(prod, tok * k, prod, backward=False)]
        for i in range(0, len(bwd), 2):  # the products' gradients, the last forward product's first
            f = fwd[len(fwd) - 1 - i // 2]
            new += [{**x, "_key": bwd[i]["_key"] + j / 4} for j, x in enumerate(_grouped(f, tok * k, bwd[i], True))]
        done.add(fwd[0]["layer"])
    if not done:
        return graph, 0
    layers = pl.col("layer").is_in(list(done))
    scale = layers & (pl.col("_exp") | parent) & ~product
    kept = t.filter(~(layers & product)).with_columns(
        *(pl.when(scale).then(pl.col(c) * pl.col("_f")).otherwise(pl.col(c)).alias(c)
          for c in ("flops", "bytes_read", "bytes_written")))
    added = pl.DataFrame(new, schema=OPGRAPH_SCHEMA | {"_key": pl.Float64}) if new else None
    out = pl.concat([kept.select([*OPGRAPH_SCHEMA, "_key"]), *([added] if added is not None else [])],
                    how="vertical").sort("_key").drop("_key")
    return reassemble(graph, [out]), len(done)
