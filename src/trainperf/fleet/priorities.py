"""Fleet priorities: which fixes would recover the most time across the fleet, by counterfactual pricing.

For each workload the step is priced again by the single-GPU model as the fix would run it (the same
captured op graph, one execution choice changed), so a fix's recoverable time is
``step - step(with the fix)`` of that workload, never a fixed share of its gap to the hardware:

- host-bound launches -> CUDA graphs (no per-kernel host launch cost);
- unfused memory-bound chains -> torch.compile (elementwise / norm / reduction chains fused, no per-op
  dispatch);
- NCHW convolutions -> channels-last (conv nets only);
- 16-bit GEMMs -> fp8 linears (where the GPU has fp8 tensor cores);
- unfused attention (bmm + softmax + bmm as eager or SDPA's math path runs it) -> flash attention,
  dense embedding-table updates -> a fused rowwise sparse optimizer, and naive chunked state-space /
  linear-attention scans (transformers' torch fallbacks) -> mamba_ssm's SSD and fla's delta-rule kernels (the op
  graph rewritten by model/production.py and model/production_ssm.py);
- GEMMs whose leading dimensions are not 16-byte multiples (GPT-2's 50,257 vocabulary) -> dimensions
  padded to a multiple of 64 (the op graph with every GEMM aligned; the few padded FLOPs are not added).

Fixes overlap (compile also removes dispatch, which CUDA graphs also remove): each workload's fixes are
also priced all together, and ``shared_s`` = sum of each alone - all together is reported, so the items
never add up to more than the step without saying so. Across the fleet a fix's weight is the workload's
share of GPU-hours (``--weights FILE.toml``: workload = GPU-hours; equal by default), applied to the share
of the step the fix recovers.
"""

from __future__ import annotations

import dataclasses
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from trainperf.hardware.spec import GPUSpec
from trainperf.model import ExecConfig
from trainperf.model.production import causal_attention, fuse_attention, sparse_embeddings
from trainperf.model.production_moe import route_experts
from trainperf.model.production_ssm import fuse_scans

FIXES_SCHEMA: dict[str, Any] = {
    "workload": pl.Utf8, "gpu": pl.Utf8, "fix": pl.Utf8, "step_s": pl.Float64, "fixed_step_s": pl.Float64,
    "recoverable_s": pl.Float64, "recoverable_share": pl.Float64,
}
"""One row per (workload, GPU, applicable fix); fix 'all' is every applicable fix together."""


class Fix(StrEnum):
    CUDA_GRAPHS = "cuda-graphs"
    COMPILE = "compile"
    CHANNELS_LAST = "channels-last"
    FP8 = "fp8"
    PAD_DIMS = "pad-dims"
    FUSED_ATTENTION = "fused-attention"
    SPARSE_EMBEDDINGS = "sparse-embeddings"
    FUSED_SSM_SCAN = "fused-ssm-scan"
    ROUTED_EXPERTS = "routed-experts"


FIX_WHAT = {
    Fix.CUDA_GRAPHS: "host-bound launches: replay the step from CUDA graphs",
    Fix.COMPILE: "unfused memory-bound chains and per-op dispatch: torch.compile",
    Fix.CHANNELS_LAST: "NCHW convolutions: channels-last",
    Fix.FP8: "16-bit GEMMs: fp8 linears (torchao float8 / Transformer Engine)",
    Fix.PAD_DIMS: "unaligned GEMMs (e.g. a vocabulary of 50,257): pad the dimension to a multiple of 64",
    Fix.FUSED_ATTENTION: "unfused attention (bmm + softmax + bmm): flash attention (SDPA, flash-attn)",
    Fix.SPARSE_EMBEDDINGS: "dense embedding-table gradients and updates: fused rowwise sparse optimizer "
                           "(TorchRec / FBGEMM)",
    Fix.FUSED_SSM_SCAN: "naive chunked state-space / linear-attention scans (cumsum, einsum/bmm, triangular "
                        "solves, block loops): fused kernels (mamba_ssm SSD, flash-linear-attention delta rule, "
                        "lightning attention)",
    Fix.ROUTED_EXPERTS: "MoE layers that multiply every token by every expert: routed grouped GEMMs over the "
                        "top-k experts only (torch _grouped_mm, Megatron-Core grouped MLP)",
}


def padded(graph: Any) -> Any | None:
    """The op graph with every unaligned GEMM aligned (gemm_align 16), or None when every GEMM is."""
    ops = graph.ops
    if "gemm_align" not in ops.columns:
        return None
    narrow = (pl.col("gemm_align") > 0) & (pl.col("gemm_align") < 16)
    if not ops.select(narrow.any()).item():
        return None
    return dataclasses.replace(graph, ops=ops.with_columns(
        pl.when(narrow).then(16).otherwise(pl.col("gemm_align")).cast(pl.Int64).alias("gemm_align")))


def counterfactuals(cfg: ExecConfig, gpu: GPUSpec, has_conv: bool) -> dict[Fix, ExecConfig]:
    """The execution choices each applicable fix changes (a fix already in ``cfg`` does not apply)."""
    out: dict[Fix, ExecConfig] = {}
    if not cfg.cuda_graphs:
        out[Fix.CUDA_GRAPHS] = dataclasses.replace(cfg, cuda_graphs=True)
    if not cfg.compile:
        out[Fix.COMPILE] = dataclasses.replace(cfg, compile=True)
    if has_conv and not cfg.channels_last:
        out[Fix.CHANNELS_LAST] = dataclasses.replace(cfg, channels_last=True)
    if cfg.precision in ("bf16", "fp16") and gpu.has_precision("fp8"):
        out[Fix.FP8] = dataclasses.replace(cfg, precision="fp8")
    return out


def fix_rows(workload: str, graph: Any, gpu: GPUSpec, cfg: ExecConfig) -> list[dict[str, object]]:
    """Every applicable fix of one captured workload on one GPU, priced alone and all together."""
    from trainperf.model import predict_step

    base = predict_step(graph, gpu, cfg).step_time_s
    has_conv = bool((graph.ops["category"] == "conv").any())
    cfs = counterfactuals(cfg, gpu, has_conv)
    rows = []

    def row(fix: str, t: float) -> dict[str, object]:
        return {"workload": workload, "gpu": gpu.name, "fix": fix, "step_s": base, "fixed_step_s": t,
                "recoverable_s": max(0.0, base - t), "recoverable_share": max(0.0, 1 - t / base)}

    for fix, c in cfs.items():
        rows.append(row(fix.value, predict_step(graph, gpu, c).step_time_s))
    rewritten = graph
    pad = padded(graph)
    if pad is not None:
        rows.append(row(Fix.PAD_DIMS.value, predict_step(pad, gpu, cfg).step_time_s))
        rewritten = pad
    flash, n_fused = fuse_attention(graph, causal=causal_attention(workload))
    if n_fused:
        rows.append(row(Fix.FUSED_ATTENTION.value, predict_step(flash, gpu, cfg).step_time_s))
        rewritten = fuse_attention(rewritten, causal=causal_attention(workload))[0]
    sparse, n_tables = sparse_embeddings(graph)
    if n_tables:
        rows.append(row(Fix.SPARSE_EMBEDDINGS.value, predict_step(sparse, gpu, cfg).step_time_s))
        rewritten = sparse_embeddings(rewritten)[0]
    scans, n_scans = fuse_scans(graph)
    if n_scans:
        rows.append(row(Fix.FUSED_SSM_SCAN.value, predict_step(scans, gpu, cfg).step_time_s))
        rewritten = fuse_scans(rewritten)[0]
    routed, n_routed = route_experts(graph)
    if n_routed:
        rows.append(row(Fix.ROUTED_EXPERTS.value, predict_step(routed, gpu, cfg).step_time_s))
        rewritten = route_experts(rewritten)[0]
    if cfs or rewritten is not graph:
        every = cfg
        for c in cfs.values():  # all fixes together: each changes its own field
            every = dataclasses.replace(every, **{f.name: getattr(c, f.name) for f in dataclasses.fields(c)
                                                  if getattr(c, f.name) != getattr(cfg, f.name)})
        rows.append(row("all", predict_step(rewritten, gpu, every).step_time_s))
    return rows


def read_weights(path: Path) -> dict[str, float]:
    """``workload = GPU-hours`` pairs from a TOML file; one line naming the file and the bad entry."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--weights {path}: not a readable TOML file ({e})") from None
    out: dict[str, float] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0 or v == float("inf"):
            raise ValueError(f"--weights {path}: {k} = {v!r}; give GPU-hours as a number >= 0, e.g. {k} = 1200")
        out[k] = float(v)
    return out


def rank_fixes(fixes: pl.DataFrame, weights: dict[str, float] | None = None, top: int = 3) -> pl.DataFrame:
    """Fixes ranked by GPU-hours recovered across the fleet: sum over workloads of weight x recoverable
    share (equal weights: the mean share). Columns: fix, what, fleet_share (of all weighted GPU-hours),
    workloads (how many it helps by > 1%), top_workloads (the three it helps most, with their share).
    Overlap between fixes: fleet_overlap."""
    if fixes.height == 0:
        return pl.DataFrame(schema={"fix": pl.Utf8, "what": pl.Utf8, "fleet_share": pl.Float64,
                                    "workloads": pl.Int64, "top_workloads": pl.Utf8})
    names = fixes["workload"].unique().to_list()
    w = {n: (weights or {}).get(n, 1.0 if not weights else 0.0) for n in names}
    total = sum(w.values()) or 1.0
    f = fixes.with_columns(wshare=pl.col("recoverable_share") * pl.col("workload").replace_strict(w, default=0.0)
                           / total)
    single = f.filter(pl.col("fix") != "all")
    ranked = (single.group_by("fix").agg(
        fleet_share=pl.col("wshare").sum(),
        workloads=(pl.col("recoverable_share") > 0.01).sum().cast(pl.Int64),
        top=pl.struct("workload", "recoverable_share").sort_by("recoverable_share", descending=True).head(3))
        .sort(["fleet_share", "fix"], descending=[True, False]))
    ranked = ranked.with_columns(
        what=pl.col("fix").replace_strict({k.value: v for k, v in FIX_WHAT.items()}, default=""),
        top_workloads=pl.col("top").list.eval(pl.format("{} {}%", pl.element().struct.field("workload"),
                                                        (pl.element().struct.field("recoverable_share") * 100)
                                                        .round(1))).list.join(", "))
    return ranked.select("fix", "what", "fleet_share", "workloads", "top_workloads").head(top)


def fleet_overlap(fixes: pl.DataFrame, weights: dict[str, float] | None = None) -> tuple[float, float]:
    """(weighted share recovered by all fixes together, sum of the fixes' shares alone): their difference
    is time two or more fixes would each claim."""
    names = fixes["workload"].unique().to_list()
    w = {n: (weights or {}).get(n, 1.0 if not weights else 0.0) for n in names}
    total = sum(w.values()) or 1.0
    ws = pl.col("recoverable_share") * pl.col("workload").replace_strict(w, default=0.0) / total
    together = float(fixes.filter(pl.col("fix") == "all").select(ws.sum()).item() or 0.0)
    alone = float(fixes.filter(pl.col("fix") != "all").select(ws.sum()).item() or 0.0)
    return together, alone
