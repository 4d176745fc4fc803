"""The opportunities' rows from the numbers the analyses found: title, evidence, action, and the time each
recovers, counted once per part of the step. Plain Python, shared by the polars engine
(opportunities.py) and the small-trace engine (trace/quick/), so both say the same words.

The parts are disjoint and add up to the window: host (GPU idle waiting on the host: idle_host +
idle_sync), wait (communication + idle_other: collectives and stragglers), copy, compute. Items in the same
part are counted in rank order up to what the part holds; an item that shares its time with a higher one
says so (``overlaps``) and keeps what it would recover alone (``alone_ns``): the items never add up to
more than the step. The compute items (counterfactual.py) also say which op rows their time comes from
(claims): each row's time is counted once, by the largest claim counted before, and far_from_sol, the
generic "tune it" item, is counted after the specific fixes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from trainperf.trace.analyses.counterfactual import Compute, Priced

# A well-tuned kernel reaches about this fraction of its roofline time on current GPUs (large cuBLAS GEMMs
# reach 70-90% of dense peak; bandwidth-bound kernels 80-90% of HBM peak: NVIDIA "Matrix Multiplication
# Background" user guide; STREAM-like measurements in the hardware catalog's measured anchors). We only
# claim time above this as recoverable by tuning.
ACHIEVABLE_SOL = 0.7
MIN_FRAC = 0.005  # opportunities under 0.5% of the step are noise in one profiled step
# the part of the step each kind of item recovers time from (see the module docstring)
PART = {"data_loading": "host", "launch_bound": "host", "synchronization": "host",
        "exposed_communication": "wait", "imbalance": "wait", "exposed_copy": "copy",
        "unfused_attention": "compute", "fp32_matmul": "compute", "far_from_sol": "compute"}
GENERIC = ("far_from_sol",)  # counted after the specific fixes of its part
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
    compute: Compute | None = None  # the compute items, priced by counterfactual (counterfactual.compute)
    straggler: tuple[int, float, float] | None = None  # rank, its compute, excess over the mean rank


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def opportunity_rows(f: Findings, gpu: Any | None) -> list[dict[str, Any]]:
    """Ranked rows (COLUMNS)."""
    m, per = f.means, f.per
    step = float(m["window"]) or 1.0
    rows: list[dict[str, Any]] = []

    def add(kind: str, title: str, ns: float, evidence: str, action: str,
            claims: dict[Any, float] | None = None) -> None:
        if ns > 0 and ns / step >= MIN_FRAC:
            rows.append({"kind": kind, "title": title, "alone_ns": float(ns), "part": PART[kind],
                         "evidence": evidence, "action": action, "claims": claims})

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
    c = f.compute
    if c is not None and gpu is not None:
        _attention(c.attention, per, gpu, add)
        _fp32(c.fp32, per, gpu, add)
        _far(c, add)
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


def _attention(p: Priced | None, per: str, gpu: Any, add: Any) -> None:
    """Unfused attention spans, priced as one flash-attention kernel each (counterfactual.py)."""
    if p is None:
        return
    n_fwd, n_bwd, (bh, lq, lk, d, dtype) = p.detail
    add("unfused_attention", "Attention runs unfused (bmm + softmax + bmm)", sum(p.claims.values()),
        f"bmm+softmax+bmm: {_ms(p.measured_ns)} {per} measured ({n_fwd} forward, {n_bwd} backward; most time in "
        f"{bh} batch x heads, {lq}x{lk} scores, head dim {d}, {dtype}); as SDPA flash attention: "
        f"{_ms(p.fix_ns)} (its cost formula at {ACHIEVABLE_SOL:.0%} of the {gpu.name} roofline, no causal mask)",
        "Use torch.nn.functional.scaled_dot_product_attention (Hugging Face: attn_implementation='sdpa', or "
        "'flash_attention_2'): one fused kernel forward and one backward, the scores never written to memory.",
        p.claims)


def _fp32(p: Priced | None, per: str, gpu: Any, add: Any) -> None:
    """fp32 matmul/conv/attention priced in the GPU's faster tensor format (counterfactual.price_fp32)."""
    if p is None:
        return
    fast, cats, shaped = p.detail
    rates = f"{gpu.peak_tflops(fast):.0f} TFLOP/s {fast} vs {gpu.peak_tflops('fp32'):.0f} fp32"
    how = (f"the same ops in {fast} at {ACHIEVABLE_SOL:.0%} of the {gpu.name} roofline ({rates})" if shaped else
           f"scaled by the peak ratio ({gpu.name}: {rates}; no shapes recorded to price the ops)")
    torch_dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(fast)
    action = (f"Train in mixed precision: torch.autocast('cuda', dtype=torch.{torch_dtype})"
              + (" (with a GradScaler for fp16)" if fast == "fp16" else "")
              + (", or at least torch.backends.cuda.matmul.allow_tf32 = True." if gpu.has_precision("tf32") else
                 f" ({gpu.name} has no TF32 tensor cores).")) if torch_dtype else \
        "Let fp32 matmuls use TF32 tensor cores: torch.backends.cuda.matmul.allow_tf32 = True."
    add("fp32_matmul", f"fp32 matmuls on a GPU with {fast} tensor cores", sum(p.claims.values()),
        f"{_ms(p.measured_ns)} {per} in compute-bound fp32 {'/'.join(cats)} ops; {how}: {_ms(p.fix_ns)}",
        action, p.claims)


def _far(c: Compute, add: Any) -> None:
    """Time above ACHIEVABLE_SOL of roofline; counted after the specific items, so it keeps what they leave."""
    p = c.far
    if p is None:
        return
    from trainperf.trace.analyses.counterfactual import claimed

    taken = claimed(c.attention, c.fp32)
    shared = sum(min(g, taken.get(u, 0.0)) for u, g in p.claims.items())
    ev = "; ".join(f"{op} x{calls} at {frac:.0%} of SOL ({bound}-bound)" for op, calls, frac, bound in p.detail)
    add("far_from_sol", "Kernels far from speed of light", sum(p.claims.values()),
        ev + f"; time above {ACHIEVABLE_SOL:.0%} of roofline counted"
        + (f", {_ms(shared)} of it in ops the fixes above already price" if shared > 0 else ""),
        "Memory-bound chains (elementwise, norms, copies): fuse with torch.compile. GEMMs: keep M/N/K "
        "multiples of 64 (8 at least) for tensor cores, avoid tiny batched GEMMs. Attention: use "
        "F.scaled_dot_product_attention with the flash backend.", p.claims)


def count_once(rows: list[dict[str, Any]], pools: dict[str, float], step: float) -> list[dict[str, Any]]:
    """Rank items by what each recovers alone (GENERIC ones last in their part); count each within what its
    part of the step has left and, for items with claims, within what its op rows have left: a row's
    time counts once, up to the largest claim on it counted so far (claims: unit -> ns)."""
    rows = sorted(rows, key=lambda r: (r["kind"] in GENERIC, -r["alone_ns"], r["kind"]))
    first: dict[str, str] = {}
    best: dict[Any, tuple[float, str]] = {}  # unit -> (largest claim counted, its item)
    for r in rows:
        part, alone = r["part"], r["alone_ns"]
        want, shared = _unclaimed(r.get("claims"), alone, best, r["kind"])
        got = min(want, max(0.0, pools[part]))
        pools[part] -= got
        by = max(shared, key=lambda k: (shared[k], k)) if shared else first.get(part)
        r.update(recover_ns=got, recover_frac=got / step, overlaps=by if got < alone else None)
        first.setdefault(part, r["kind"])
    rows.sort(key=lambda r: (-r["recover_ns"], -r["alone_ns"], r["kind"]))
    return [{c: r[c] for c in COLUMNS} for r in rows]


def _unclaimed(claims: dict[Any, float] | None, alone: float, best: dict[Any, tuple[float, str]],
               kind: str) -> tuple[float, dict[str, float]]:
    """What of an item's claims the items counted before have not claimed, and how much each of those took;
    ``best`` is updated with this item's claims."""
    if not claims:
        return alone, {}
    left = 0.0
    shared: dict[str, float] = {}
    for u, c in claims.items():
        b, who = best.get(u, (0.0, ""))
        left += max(0.0, c - b)
        if b > 0:
            shared[who] = shared.get(who, 0.0) + min(b, c)
        if c > b:
            best[u] = (c, kind)
    return (alone if not shared else min(alone, left)), shared
