"""Summaries of an OpGraph: pure table -> table functions (rendering lives in trainperf.report)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trainperf.opgraph import OpGraph


@dataclass(frozen=True)
class CaptureSummary:
    n_ops: int
    n_kernels: int
    total_flops: float
    total_bytes: float
    by_category: pl.DataFrame
    by_phase: pl.DataFrame
    top_modules: pl.DataFrame
    uncovered: pl.DataFrame
    memory: dict[str, float]


def _agg(df: pl.DataFrame, key: str) -> pl.DataFrame:
    total_f = max(df["flops"].sum(), 1.0)
    return (
        df.group_by(key)
        .agg(pl.len().alias("ops"), pl.col("kernels").sum().alias("kernels"), pl.col("flops").sum().alias("flops"),
             (pl.col("bytes_read") + pl.col("bytes_written")).sum().alias("bytes"))
        .with_columns((pl.col("flops") / total_f).alias("flops_share"),
                      (pl.col("flops") / pl.col("bytes").clip(1.0)).alias("flops_per_byte"))
        .sort("flops", descending=True)
    )


def top_modules(ops: pl.DataFrame, n: int = 10, depth: int | None = None) -> pl.DataFrame:
    """Modules by FLOPs; repeated blocks are grouped by their type-level path (``model.layers.*.mlp``)."""
    mod = pl.col("module").str.replace_all(r"\.\d+(\.|$)", ".*$1")
    return _agg(ops.with_columns(mod.alias("module_group")), "module_group").head(n)


def summarize(graph: OpGraph, n_top: int = 10) -> CaptureSummary:
    ops = graph.ops
    m = graph.meta
    uncovered = (ops.filter(~pl.col("covered")).group_by("op").agg(pl.len().alias("calls"))
                 .sort("calls", descending=True))
    return CaptureSummary(
        n_ops=ops.height,
        n_kernels=int(ops["kernels"].sum()),
        total_flops=float(ops["flops"].sum()),
        total_bytes=float((ops["bytes_read"] + ops["bytes_written"]).sum()),
        by_category=_agg(ops, "category"),
        by_phase=_agg(ops, "phase"),
        top_modules=top_modules(ops, n_top),
        uncovered=uncovered,
        memory={
            "parameters": m.param_bytes, "gradients": m.grad_bytes, "optimizer_state": m.optimizer_state_bytes,
            "activations_saved_for_backward": m.activation_bytes,
        },
    )
