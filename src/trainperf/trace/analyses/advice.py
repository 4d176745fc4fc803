"""The opportunities' rows from the numbers the analyses found: title, evidence, action, and the time each
recovers, counted once per part of the step. Plain Python, shared by the polars engine
(opportunities.py) and the small-trace engine (trace/quick/), so both say the same words.

The parts are disjoint and add up to the window: host (GPU idle waiting on the host: idle_host +
idle_sync), wait (communication + idle_other: collectives and stragglers), copy, compute. Items in the same
part are counted in rank order up to what the part holds; an item that shares its time with a higher one
says so (``overlaps``) and keeps what it would recover alone (``alone_ns``): the items never add up to
more than the step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# A well-tuned kernel reaches about this fraction of its roofline time on current GPUs (large cuBLAS GEMMs
# reach 70-90% of dense peak; bandwidth-bound kernels 80-90% of HBM peak: NVIDIA "Matrix Multiplication
# Background" user guide; STREAM-like measurements in the hardware catalog's measured anchors). We only
# claim time above this as recoverable by tuning.
ACHIEVABLE_SOL = 0.7
MIN_FRAC = 0.005  # opportunities under 0.5% of the step are noise in one profiled step
# the part of the step each kind of item recovers time from (see the module docstring)
PART = {"data_loading": "host", "launch_bound": "host", "synchronization": "host",
        "exposed_communication": "wait", "imbalance": "wait", "exposed_copy": "copy",
        "precision": "compute", "far_from_sol": "compute"}
COLUMNS = ("kind", "title", "recover_ns", "recover_frac", "alone_ns", "part", "overlaps", "evidence", "action")


class Findings(NamedTuple):
    """What the analyses found, as the opportunities need it (times in ns, per step, mean over ranks). (A
    NamedTuple, not a dataclass: importing dataclasses costs the small-trace engine 13 ms of its 30.)"""

    means: dict[str, float]  # window, compute, communication, copy, idle_host, idle_sync, idle_other
    per: str  # "per step", or "over the trace" when the trace has no ProfilerStep spans
    dataloader_ns: float = 0.0
    kernels_per_step: float | None = None
    short_share: float | None = None
    overlap: float | None = None  # mean over ranks of the share of collective time under compute
    collectives: tuple[tuple[str, int, float | None], ...] = ()  # kind, calls, busbw
    fp32_ns: float = 0.0  # compute-bound fp32 matmul/conv/attention time
    fp32_categories: tuple[str, ...] = ()
    sol_gap_ns: float = 0.0  # time above ACHIEVABLE_SOL of roofline, all ops
    sol_top: tuple[tuple[str, int, float, str], ...] = ()  # op, calls, sol_frac, bound_by
    straggler: tuple[int, float, float] | None = None  # rank, its compute, excess over the mean rank


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def opportunity_rows(f: Findings, gpu: Any | None) -> list[dict[str, Any]]:
    """Ranked rows (COLUMNS)."""
    m, per = f.means, f.per
    step = float(m["window"]) or 1.0
    rows: list[dict[str, Any]] = []

    def add(kind: str, title: str, ns: float, evidence: str, action: str) -> None:
        if ns > 0 and ns / step >= MIN_FRAC:
            rows.append({"kind": kind, "title": title, "alone_ns": float(ns), "part": PART[kind],
                         "evidence": evidence, "action": action})

    dl = f.dataloader_ns
    add("data_loading", "GPU idle while the data loader fetches the next batch", dl,
        f"{_ms(dl)} {per} of GPU idle overlaps enumerate(DataLoader) spans",
        "Load data in the background: DataLoader(num_workers>=4, pin_memory=True, persistent_workers=True, "
        "prefetch_factor=2+); move decoding/augmentation off the training process.")
    host = max(0.0, float(m["idle_host"]) - dl)
    add("launch_bound", "GPU waits for the CPU to launch work (launch/host-bound)", host,
        f"GPU idle {_ms(host)} {per} ({host / step:.0%}) before the next kernel was even launched; "
        f"{(f.kernels_per_step or 0):.0f} kernels {per}, {(f.short_share or 0):.0%} of them shorter than 10 us",
        "Cut per-kernel CPU cost: torch.compile (fuses small ops), CUDA graphs "
        "(torch.compile(mode='reduce-overhead') or torch.cuda.graphs), a larger micro-batch per GPU, "
        "and no Python work between ops in the hot loop.")
    add("synchronization", "Host synchronizations drain the GPU queue", float(m["idle_sync"]),
        f"{_ms(float(m['idle_sync']))} {per} of GPU idle follows a CPU synchronize call",
        "Remove syncs from the step: no .item()/.cpu()/print of CUDA tensors or torch.cuda.synchronize() "
        "per step; log metrics every N steps; use non_blocking=True copies.")
    kinds = ", ".join(f"{k} x{n}" + (f" at {bw:.1f} GB/s bus bw" if bw else "") for k, n, bw in f.collectives)
    add("exposed_communication", "Communication not hidden under compute", float(m["communication"]),
        f"{_ms(float(m['communication']))} {per} of collectives run with no compute kernel beside them"
        + (f"; {f.overlap:.0%} of collective time overlaps compute" if f.overlap is not None else "")
        + (f"; {kinds}" if kinds else ""),
        "Overlap collectives with compute: DDP bucket_cap_mb (smaller first buckets) and "
        "gradient_as_bucket_view=True; FSDP backward_prefetch/forward_prefetch; for TP/SP use async "
        "collectives; or shrink the traffic (bf16 gradients, fewer data-parallel ranks per node).")
    add("exposed_copy", "Memory copies on the critical path", float(m["copy"]),
        f"{_ms(float(m['copy']))} {per} only memcpy/memset runs on the GPU",
        "Pin host memory (pin_memory=True) and copy with non_blocking=True ahead of use; avoid .to(device) "
        "and torch.zeros on the host inside the step; keep tensors on the GPU.")
    _precision(f, gpu, add)
    if f.sol_top:
        ev = "; ".join(f"{op} x{calls} at {frac:.0%} of SOL ({bound}-bound)" for op, calls, frac, bound in f.sol_top)
        add("far_from_sol", "Kernels far from speed of light", f.sol_gap_ns,
            ev + f"; time above {ACHIEVABLE_SOL:.0%} of roofline counted",
            "Memory-bound chains (elementwise, norms, copies): fuse with torch.compile. GEMMs: keep M/N/K "
            "multiples of 64 (8 at least) for tensor cores, avoid tiny batched GEMMs. Attention: use "
            "F.scaled_dot_product_attention with the flash backend.")
    if f.straggler is not None:
        rank, compute, excess = f.straggler
        add("imbalance", "Ranks wait for a straggler", excess,
            f"rank {rank} computes {_ms(compute)} {per}, {excess / 1e6:.2f} ms more than the mean rank",
            "Balance work across ranks (equal tokens per rank: sequence packing or length bucketing; even "
            "embedding-table sharding); check the slow rank's GPU clocks and thermals.")
    pools = {"host": float(m["idle_host"]) + float(m["idle_sync"]),
             "wait": float(m["communication"]) + float(m["idle_other"]),
             "copy": float(m["copy"]), "compute": float(m["compute"])}
    return count_once(rows, pools, step)


def _precision(f: Findings, gpu: Any | None, add: Any) -> None:
    """fp32 matmul/conv/attention on a GPU with a faster 16-bit tensor-core rate."""
    if gpu is None or f.fp32_ns <= 0:
        return
    fast = next((d for d in ("bf16", "fp16") if gpu.has_precision(d)), None)
    if fast is None or not gpu.has_precision("fp32"):
        return
    ratio = gpu.peak_tflops("fp32") / gpu.peak_tflops(fast)
    t = f.fp32_ns
    add("precision", f"fp32 matmuls on a GPU with {fast} tensor cores", t * (1 - ratio),
        f"{_ms(t)} {f.per} in compute-bound fp32 {'/'.join(sorted(f.fp32_categories))} ops; "
        f"{gpu.name} peaks at {gpu.peak_tflops('fp32'):.0f} TFLOP/s fp32 vs {gpu.peak_tflops(fast):.0f} {fast}",
        f"Train in mixed precision: torch.autocast('cuda', dtype=torch.{'bfloat16' if fast == 'bf16' else 'float16'})"
        " (with a GradScaler for fp16)"
        + (", or at least torch.backends.cuda.matmul.allow_tf32 = True." if gpu.has_precision("tf32") else
           f" ({gpu.name} has no TF32 tensor cores)."))


def count_once(rows: list[dict[str, Any]], pools: dict[str, float], step: float) -> list[dict[str, Any]]:
    """Rank items by what each recovers alone; count each within what its part of the step has left."""
    rows = sorted(rows, key=lambda r: (-r["alone_ns"], r["kind"]))
    first: dict[str, str] = {}
    for r in rows:
        part = r["part"]
        got = min(r["alone_ns"], max(0.0, pools[part]))
        pools[part] -= got
        r.update(recover_ns=got, recover_frac=got / step, overlaps=first.get(part) if got < r["alone_ns"] else None)
        first.setdefault(part, r["kind"])
    rows.sort(key=lambda r: (-r["recover_ns"], -r["alone_ns"], r["kind"]))
    return [{c: r[c] for c in COLUMNS} for r in rows]
