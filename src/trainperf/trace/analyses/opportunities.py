"""Opportunities: what would recover the most step time, ranked, each with its evidence and the concrete
action. A pure function of the other analyses' tables (and the events, for data-loader spans).
Recoverable times are per step, averaged over ranks, and are upper bounds: each assumes the problem
is removed completely and nothing else moves onto the critical path. docs/analyses/opportunities.md.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trainperf.trace.analyses._intervals import gaps, union_len_lazy
from trainperf.trace.analyses.temporal import ALL_STEPS, windows
from trainperf.trace.engine import ENGINE
from trainperf.vocab import OpCategory

# A well-tuned kernel reaches about this fraction of its roofline time on current GPUs (large cuBLAS GEMMs
# reach 70-90% of dense peak; bandwidth-bound kernels 80-90% of HBM peak: NVIDIA "Matrix Multiplication
# Background" user guide; STREAM-like measurements in the hardware catalog's measured anchors). We only
# claim time above this as recoverable by tuning.
ACHIEVABLE_SOL = 0.7
MIN_FRAC = 0.005  # opportunities under 0.5% of the step are noise in one profiled step

SCHEMA = {"kind": pl.String, "title": pl.String, "recover_ns": pl.Float64, "recover_frac": pl.Float64,
          "evidence": pl.String, "action": pl.String}


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def _per_step(temporal: pl.DataFrame) -> pl.DataFrame:
    steps = temporal.filter(pl.col("step") != ALL_STEPS)
    return steps if steps.height else temporal


def _dataloader_idle(events: pl.DataFrame) -> pl.DataFrame:
    """Per rank: GPU idle time that overlaps a data-loader ``enumerate(DataLoader)#...__next__`` span."""
    dl = events.lazy().filter(pl.col("name").str.starts_with("enumerate(DataLoader)") & (pl.col("ph") == "X")).select(
        "rank", s="ts", e=pl.col("ts") + pl.col("dur")).collect(engine=ENGINE)
    if dl.height == 0:
        return pl.DataFrame(schema={"rank": pl.Int32, "dl_idle_ns": pl.Int64})
    g = events.lazy().filter("gpu").select("rank", s="ts", e=pl.col("ts") + pl.col("dur")).collect(engine=ENGINE)
    w = windows(events, by_step=False).select("rank", "w0", "w1")
    idle = gaps(g, w, ["rank"]).select("rank", s="g0", e="g1").lazy()
    a = union_len_lazy(dl.lazy(), ["rank"], "a")
    b = union_len_lazy(idle, ["rank"], "b")
    ab = union_len_lazy(pl.concat([dl.lazy(), idle]), ["rank"], "ab")
    return (a.join(b, on="rank").join(ab, on="rank").select("rank", dl_idle_ns=pl.col("a") + pl.col("b") - pl.col("ab"))
            .collect(engine=ENGINE))


def opportunities(events: pl.DataFrame, temporal: pl.DataFrame, launch: pl.DataFrame, overlap: pl.DataFrame,
                  collectives: pl.DataFrame, sol: pl.DataFrame, imbalance: pl.DataFrame,
                  gpu: Any | None = None) -> pl.DataFrame:
    """Ranked opportunities: kind, title, recover_ns (per step), recover_frac (of the step), evidence, action."""
    t = _per_step(temporal)
    if t.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    n_steps = max(1, t.select(pl.col("step")).n_unique()) if (t["step"] != ALL_STEPS).any() else 1
    m = t.select(pl.col("window", "compute", "communication", "copy", "idle", "idle_host", "idle_sync",
                        "idle_other").mean()).row(0, named=True)
    step = float(m["window"]) or 1.0
    rows: list[dict[str, Any]] = []

    def add(kind: str, title: str, ns: float, evidence: str, action: str) -> None:
        if ns > 0 and ns / step >= MIN_FRAC:
            rows.append({"kind": kind, "title": title, "recover_ns": float(ns), "recover_frac": ns / step,
                         "evidence": evidence, "action": action})

    n_ranks = max(1, t["rank"].n_unique())
    dl = _dataloader_idle(events)
    dl_ns = float(dl["dl_idle_ns"].sum() or 0) / n_ranks / n_steps
    add("data_loading", "GPU idle while the data loader fetches the next batch", dl_ns,
        f"{_ms(dl_ns)} per step of GPU idle overlaps enumerate(DataLoader) spans",
        "Load data in the background: DataLoader(num_workers>=4, pin_memory=True, persistent_workers=True, "
        "prefetch_factor=2+); move decoding/augmentation off the training process.")
    host = max(0.0, float(m["idle_host"]) - dl_ns)
    ls = launch.select(pl.col("kernels_per_step", "delay_p50_ns", "short_share").mean()).row(0, named=True) \
        if launch.height else {}
    add("launch_bound", "GPU waits for the CPU to launch work (launch/host-bound)", host,
        f"GPU idle {_ms(host)} per step ({host / step:.0%}) before the next kernel was even launched; "
        f"{(ls.get('kernels_per_step') or 0):.0f} kernels per step, "
        f"{(ls.get('short_share') or 0):.0%} of them shorter than 10 us",
        "Cut per-kernel CPU cost: torch.compile (fuses small ops), CUDA graphs "
        "(torch.compile(mode='reduce-overhead') or torch.cuda.graphs), a larger micro-batch per GPU, "
        "and no Python work between ops in the hot loop.")
    add("synchronization", "Host synchronizations drain the GPU queue", float(m["idle_sync"]),
        f"{_ms(float(m['idle_sync']))} per step of GPU idle follows a CPU synchronize call",
        "Remove syncs from the step: no .item()/.cpu()/print of CUDA tensors or torch.cuda.synchronize() "
        "per step; log metrics every N steps; use non_blocking=True copies.")
    ov = overlap.select(pl.col("overlap").mean()).item() if overlap.height else None
    kinds = ", ".join(f"{r['kind']} x{r['count']}" + (f" at {r['busbw_GBps']:.1f} GB/s bus bw"
                                                       if r.get("busbw_GBps") else "")
                      for r in collectives.group_by("kind").agg(pl.col("count").sum(), pl.col("busbw_GBps").mean(),
                                                                pl.col("time_ns").sum())
                      .sort("time_ns", "kind", descending=[True, False]).iter_rows(named=True))
    add("exposed_communication", "Communication not hidden under compute", float(m["communication"]),
        f"{_ms(float(m['communication']))} per step of collectives run with no compute kernel beside them"
        + (f"; {ov:.0%} of collective time overlaps compute" if ov is not None else "")
        + (f"; {kinds}" if kinds else ""),
        "Overlap collectives with compute: DDP bucket_cap_mb (smaller first buckets) and "
        "gradient_as_bucket_view=True; FSDP backward_prefetch/forward_prefetch; for TP/SP use async "
        "collectives; or shrink the traffic (bf16 gradients, fewer data-parallel ranks per node).")
    add("exposed_copy", "Memory copies on the critical path", float(m["copy"]),
        f"{_ms(float(m['copy']))} per step only memcpy/memset runs on the GPU",
        "Pin host memory (pin_memory=True) and copy with non_blocking=True ahead of use; avoid .to(device) "
        "and torch.zeros on the host inside the step; keep tensors on the GPU.")
    _precision(sol, events, gpu, n_steps, n_ranks, add)
    _far_from_sol(sol, n_steps, n_ranks, add)
    if imbalance.height > 1:
        ex = float(imbalance.select(pl.col("compute_ns").max() - pl.col("compute_ns").mean()).item())
        top = imbalance.sort("compute_ns", descending=True).row(0, named=True)
        add("imbalance", "Ranks wait for a straggler", ex,
            f"rank {top['rank']} computes {_ms(float(top['compute_ns']))} per step, "
            f"{ex / 1e6:.2f} ms more than the mean rank",
            "Balance work across ranks (equal tokens per rank: sequence packing or length bucketing; even "
            "embedding-table sharding); check the slow rank's GPU clocks and thermals.")
    if not rows:
        return pl.DataFrame(schema=SCHEMA)
    return pl.DataFrame(rows, schema=SCHEMA).sort("recover_ns", descending=True)


# cuBLAS/cuDNN name their single-precision (no tensor core) kernels with an "s" precision letter:
# volta_sgemm_128x64_nt, volta_scudnn_128x64_relu_... (NVIDIA kernel naming; see also HTA's kernel table).
_FP32_KERNELS = r"sgemm|scudnn"


def _precision(sol: pl.DataFrame, events: pl.DataFrame, gpu: Any | None, n_steps: int, n_ranks: int,
               add: Any) -> None:
    """fp32 matmul/conv/attention on a GPU with a faster 16-bit tensor-core rate: from the ops' recorded
    dtypes when shapes were recorded, else from fp32 cuBLAS/cuDNN kernel names."""
    if gpu is None:
        return
    if "bound_by" not in sol.columns or not sol["covered"].any():
        # (the GPU rows first: the name regex over every event would cost more than this whole analysis)
        g = events.lazy().filter("gpu").select("name", "category", "dur").collect(engine=ENGINE)
        k = g.filter(pl.col("name").str.contains(_FP32_KERNELS))
        sol = k.group_by("category").agg(time_ns=pl.col("dur").sum()).select(
            "time_ns", cost_category="category", covered=pl.lit(True), math_dtype=pl.lit("float32"),
            bound_by=pl.lit("compute"))
    fast = next((d for d in ("bf16", "fp16") if gpu.has_precision(d)), None)
    if fast is None or not gpu.has_precision("fp32"):
        return
    ratio = gpu.peak_tflops("fp32") / gpu.peak_tflops(fast)
    heavy = [OpCategory.MATMUL.value, OpCategory.CONV.value, OpCategory.ATTENTION.value]
    f32 = sol.filter(pl.col("covered") & (pl.col("math_dtype") == "float32")
                     & pl.col("cost_category").is_in(heavy) & (pl.col("bound_by") == "compute"))
    if f32.height == 0:
        return
    t = float(f32["time_ns"].sum()) / n_steps / n_ranks
    add("precision", f"fp32 matmuls on a GPU with {fast} tensor cores", t * (1 - ratio),
        f"{_ms(t)} per step in compute-bound fp32 {'/'.join(sorted(set(f32['cost_category'])))} ops; "
        f"{gpu.name} peaks at {gpu.peak_tflops('fp32'):.0f} TFLOP/s fp32 vs {gpu.peak_tflops(fast):.0f} {fast}",
        f"Train in mixed precision: torch.autocast('cuda', dtype=torch.{'bfloat16' if fast == 'bf16' else 'float16'})"
        " (with a GradScaler for fp16)"
        + (", or at least torch.backends.cuda.matmul.allow_tf32 = True." if gpu.has_precision("tf32") else
           f" ({gpu.name} has no TF32 tensor cores)."))


def _far_from_sol(sol: pl.DataFrame, n_steps: int, n_ranks: int, add: Any) -> None:
    if "sol_ns" not in sol.columns:
        return
    s = sol.filter(pl.col("covered") & pl.col("bound_by").is_in(["compute", "memory"])).with_columns(
        gap=pl.col("time_ns") - pl.col("sol_ns") / ACHIEVABLE_SOL).filter(pl.col("gap") > 0)
    if s.height == 0:
        return
    top = s.sort("gap", descending=True).head(3)
    ev = "; ".join(f"{r['op']} x{r['calls']} at {r['sol_frac']:.0%} of SOL ({r['bound_by']}-bound)"
                   for r in top.iter_rows(named=True))
    add("far_from_sol", "Kernels far from speed of light", float(s["gap"].sum()) / n_steps / n_ranks,
        ev + f"; time above {ACHIEVABLE_SOL:.0%} of roofline counted",
        "Memory-bound chains (elementwise, norms, copies): fuse with torch.compile. GEMMs: keep M/N/K "
        "multiples of 64 (8 at least) for tensor cores, avoid tiny batched GEMMs. Attention: use "
        "F.scaled_dot_product_attention with the flash backend.")
