"""The GPU-timeline analyses of analyses/ (temporal, kernels, launch, overlap, collectives, imbalance) over
a small trace's events as Python dicts: the same definitions, row for row (each function names its
polars twin). Interval unions merge touching intervals, as _intervals.union_lazy does."""

from __future__ import annotations

import bisect
import math
import re
import statistics
from collections import defaultdict
from typing import Any

from trainperf.trace import common

Ev = dict[str, Any]
Iv = list[tuple[int, int]]
_COMM, _COPY = "communication", "copy"
_PARTS = ["window", "compute", "communication", "copy", "idle", "idle_host", "idle_sync", "idle_other"]


def div(a: float | None, b: float | None) -> float | None:
    """a / b as polars gives it: None for a null operand, NaN for 0/0 and +-inf for x/0 (JSON: null)."""
    if a is None or b is None:
        return None
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def union(iv: Iv) -> Iv:
    out: Iv = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def length(u: Iv) -> int:
    return sum(e - s for s, e in u)


def covered(u: Iv, w0: int, w1: int) -> int:
    """Length of the (disjoint, sorted) union ``u`` inside [w0, w1)."""
    i = max(0, bisect.bisect_right(u, (w0, math.inf)) - 1)
    t = 0
    for s, e in u[i:]:
        if s >= w1:
            break
        t += max(0, min(e, w1) - max(s, w0))
    return t


def by_rank(evs: list[Ev]) -> dict[int, list[Ev]]:
    out: dict[int, list[Ev]] = defaultdict(list)
    for e in evs:
        out[e["rank"]].append(e)
    return dict(sorted(out.items()))


def temporal(gpu: dict[int, list[Ev]], sync: dict[int, list[Ev]]) -> list[dict[str, Any]]:
    """temporal.temporal_breakdown: (rank, step) rows, step -1 the whole trace."""
    rows = []
    for rank, g in gpu.items():
        iv = {k: [(e["ts"], e["ts"] + e["dur"]) for e in g if k(e["category"])] for k in
              (lambda c: c not in (_COMM, _COPY), lambda c: c != _COPY, lambda c: True)}
        comp, cc, every = (union(v) for v in iv.values())
        wins = [(common.ALL_STEPS, min(e["ts"] for e in g), max(e["ts"] + e["dur"] for e in g))]
        per: dict[int, list[int]] = {}
        for e in g:
            if e["step"] is not None:
                w = per.setdefault(e["step"], [e["ts"], e["ts"] + e["dur"]])
                w[0], w[1] = min(w[0], e["ts"]), max(w[1], e["ts"] + e["dur"])
        wins += [(s, w[0], w[1]) for s, w in per.items()]
        gaps = _idle_gaps(g, every, sync.get(rank, []))
        starts = [gp[0] for gp in gaps]
        for step, w0, w1 in sorted(wins):
            c, u_cc, u_all = covered(comp, w0, w1), covered(cc, w0, w1), covered(every, w0, w1)
            lo, hi = bisect.bisect_left(starts, w0), bisect.bisect_left(starts, w1)
            host = sum(gp[1] for gp in gaps[lo:hi])
            syn = sum(gp[2] for gp in gaps[lo:hi])
            window = w1 - w0
            r = {"rank": rank, "step": step, "window": window, "compute": c, "communication": u_cc - c,
                 "copy": u_all - u_cc, "idle": window - u_all, "idle_host": host, "idle_sync": syn}
            r["idle_other"] = r["idle"] - host - syn
            for k in _PARTS[1:]:
                f = div(r[k], window)
                r[f"{k}_frac"] = 0.0 if f is not None and math.isnan(f) else f
            rows.append(r)
    return rows


def _idle_gaps(g: list[Ev], every: Iv, sync: list[Ev]) -> list[tuple[int, int, int]]:
    """temporal._idle_causes per gap: (g0, host-bound ns, sync ns), by g0."""
    launch: dict[int, int] = {}
    for e in g:
        t = e["launch_ts"] if e["launch_ts"] is not None else e["ts"]
        launch[e["ts"]] = min(launch.get(e["ts"], t), t)
    calls = sorted((e["ts"] + e["dur"], e["ts"]) for e in sync)
    ends = [c[0] for c in calls]
    out = []
    for (_, g0), (g1, _) in zip(((s, e) for s, e in every), ((s, e) for s, e in every[1:]), strict=False):
        if g1 <= g0:
            continue
        h1 = min(max(launch[g1], g0), g1)
        i = bisect.bisect_left(ends, g0)  # the first call ending at or after g0 (earliest start among equals)
        synced = i < len(calls) and calls[i][1] < h1
        out.append((g0, 0 if synced else h1 - g0, h1 - g0 if synced else 0))
    return sorted(out)


def sync_calls(evs: list[Ev]) -> dict[int, list[Ev]]:
    rx = re.compile(common.SYNC_NAME)
    return by_rank([e for e in evs if e["cat"] in common.SYNC_CATS
                    and ((e["name"] is not None and rx.search(e["name"])) or e["cat"] == "cuda_sync")])


def _n_steps(g: list[Ev]) -> int:
    return max(1, len({e["step"] for e in g if e["step"] is not None}))


def kernels(gpu: dict[int, list[Ev]]) -> list[dict[str, Any]]:
    """kernels.kernel_breakdown."""
    rows = []
    for rank, g in gpu.items():
        n, total = _n_steps(g), sum(e["dur"] for e in g)
        cats: dict[str, list[int]] = {}
        for e in g:
            c = cats.setdefault(e["category"], [0, 0])
            c[0] += 1
            c[1] += e["dur"]
        for cat, (cnt, t) in sorted(cats.items(), key=lambda kv: (-kv[1][1], kv[0])):
            rows.append({"rank": rank, "category": cat, "count": cnt, "time_ns": t, "n_steps": n,
                         "time_per_step_ns": t / n, "count_per_step": cnt / n, "share": div(t, total)})
    return rows


def top_kernels(gpu: dict[int, list[Ev]], n: int) -> list[dict[str, Any]]:
    """kernels.top_kernels."""
    by: dict[tuple[Any, Any], list[Ev]] = defaultdict(list)
    for g in gpu.values():
        for e in g:
            by[(e["name"], e["category"])].append(e)
    total = sum(e["dur"] for v in by.values() for e in v)
    rows = []
    for (name, cat), v in by.items():
        d = [e["dur"] for e in v]
        t = sum(d)
        rows.append({"name": name, "category": cat, "count": len(d), "time_ns": t, "mean_ns": t / len(d),
                     "median_ns": float(statistics.median(d)), "max_ns": max(d),
                     "ranks": len({e["rank"] for e in v}), "share": t / (total if total > 0 else 1)})
    rows.sort(key=lambda r: (-r["time_ns"], r["name"] is None, r["name"] or "", r["category"] or ""))
    return rows[:n]


def _nearest(v: list[int], q: float) -> int:
    """polars quantile(q, "nearest"): the value at index round((n - 1) q), halves away from zero."""
    s = sorted(v)
    return s[math.floor((len(s) - 1) * q + 0.5)]


def launch(gpu: dict[int, list[Ev]], evs: list[Ev]) -> list[dict[str, Any]]:
    """launch.launch_stats."""
    rows = []
    for rank, g in gpu.items():
        delay = [e["ts"] - e["launch_ts"] for e in g if e["launch_ts"] is not None]
        short = [e["dur"] < common.SHORT_KERNEL_NS for e in g]
        busy = sum(e["dur"] for e in g)
        calls = {e["launch_idx"] for e in g if e["launch_idx"] is not None}
        cd = [evs[i]["dur"] for i in sorted(calls)]
        n = _n_steps(g)
        rows.append({"rank": rank, "kernels": len(g), "delay_p50_ns": float(statistics.median(delay)) if delay else None,
                     "delay_p90_ns": float(_nearest(delay, 0.9)) if delay else None, "short_kernels": sum(short),
                     "short_share": sum(short) / len(g),
                     "short_time_share": div(sum(e["dur"] for e, s in zip(g, short, strict=True) if s), busy),
                     "gpu_busy_ns": busy, "mean_kernel_ns": busy / len(g), "launch_calls": len(cd) or None,
                     "cpu_launch_ns": sum(cd) if cd else None, "launch_call_mean_ns": sum(cd) / len(cd) if cd else None,
                     "n_steps": n, "kernels_per_step": len(g) / n})
    return rows


def _compute_iv(g: list[Ev]) -> Iv:
    return [(e["ts"], e["ts"] + e["dur"]) for e in g if e["category"] not in (_COMM, _COPY)]


def overlap(gpu: dict[int, list[Ev]]) -> list[dict[str, Any]]:
    """overlap.comm_overlap."""
    rows = []
    for rank, g in gpu.items():
        comm = length(union([(e["ts"], e["ts"] + e["dur"]) for e in g if e["category"] == _COMM]))
        comp = length(union(_compute_iv(g)))
        both = length(union([(e["ts"], e["ts"] + e["dur"]) for e in g if e["category"] != _COPY]))
        ov = comm + comp - both
        rows.append({"rank": rank, "comm_ns": comm, "compute_ns": comp, "overlapped_ns": ov,
                     "exposed_ns": comm - ov, "overlap": ov / comm if comm > 0 else None})
    return rows


def _kind(text: str | None) -> str:
    if text is None:
        return "other"
    return next((k for k, p in common.COLLECTIVE_KINDS if re.search(p, text)), "other")


def collectives(gpu: dict[int, list[Ev]], evs: list[Ev]) -> list[dict[str, Any]]:
    """collectives.collectives, with each kind's own overlap."""
    rows = []
    for rank, g in gpu.items():
        kinds: dict[str, list[tuple[Ev, int | None, float | None, int | None]]] = defaultdict(list)
        for e in g:
            if e["category"] != _COMM:
                continue
            o = evs[e["op_idx"]] if e["op_idx"] is not None else None
            o = o if o is not None and o["collective"] is not None and not o["gpu"] else None

            def get(k: str, e: Ev = e, o: Ev | None = o) -> Any:
                return e[k] if e[k] is not None else (o[k] if o is not None else None)

            coll = get("collective")
            kind = _kind(coll) if coll is not None else _kind(e["name"])
            nel = [v for v in (get("in_nelems"), get("out_nelems")) if v is not None]
            size = common.NCCL_DTYPE_BYTES.get(get("coll_dtype"))
            nbytes = max(nel) * size if nel and size is not None else None
            n = get("group_size")
            n = n if n is not None and n >= 1 else None
            f = None if n is None else (2 * (n - 1) / n if kind == "allreduce" else
                                        (n - 1) / n if kind in ("allgather", "reducescatter", "alltoall") else 1.0)
            if kind not in ("allreduce", "allgather", "reducescatter", "alltoall"):
                f = 1.0
            busbw = None if nbytes is None or f is None else div(nbytes, e["dur"]) * f  # type: ignore[operator]
            kinds[kind].append((e, nbytes, busbw, n))
        comp = union(_compute_iv(g))
        for kind, calls in kinds.items():
            known = [(e, b, bw) for e, b, bw, _ in calls if b is not None]
            kd = sum(e["dur"] for e, _, _ in known)
            k_u = union([(c[0]["ts"], c[0]["ts"] + c[0]["dur"]) for c in calls])
            ov = length(k_u) + length(comp) - length(union(k_u + comp))
            bws = [(bw, e["dur"]) for e, _, bw in known if bw is not None]
            gs = [c[3] for c in calls if c[3] is not None]
            rows.append({"rank": rank, "kind": kind, "count": len(calls), "time_ns": sum(c[0]["dur"] for c in calls),
                         "bytes": sum(b for _, b, _ in known) if known else None, "sized": len(known),
                         "mean_msg_bytes": sum(b for _, b, _ in known) / len(known) if known else None,
                         "algbw_GBps": _nan_none(div(sum(b for _, b, _ in known), kd)),
                         "busbw_GBps": _nan_none(div(sum(bw * d for bw, d in bws), kd)),
                         "group_size": max(gs) if gs else None, "overlapped_ns": ov, "exposed_ns": length(k_u) - ov,
                         "overlap": ov / length(k_u) if length(k_u) > 0 else None})
    return sorted(rows, key=lambda r: (r["rank"], -r["time_ns"], r["kind"]))


def _nan_none(x: float | None) -> float | None:
    return None if x is not None and math.isnan(x) else x


def imbalance(temporal_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """imbalance.rank_imbalance."""
    steps = [r for r in temporal_rows if r["step"] != common.ALL_STEPS]
    t = steps or temporal_rows
    by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in t:
        by[r["rank"]].append(r)
    per = [{"rank": k, "steps": len(v), **{f"{c}_ns": sum(r[c] for r in v) / len(v) for c in
                                         ("window", "compute", "communication", "idle")}} for k, v in sorted(by.items())]
    comp = [p["compute_ns"] for p in per]
    mean = sum(comp) / len(comp) if comp else 0.0
    spread = (max(comp) - min(comp)) / mean if len(per) > 1 and mean else 0.0
    top = sorted(per, key=lambda p: (-p["compute_ns"], p["rank"]))[0]["rank"] if per else None
    return [{**p, "compute_vs_mean": p["compute_ns"] / mean if mean else None,
             "straggler": p["rank"] == top and spread > 0.05} for p in per]
