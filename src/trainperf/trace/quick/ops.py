"""The op-level analyses of analyses/ (speed of light, host time, opportunities) over a small trace's events
as Python dicts, with the same pricing (analyses/pricing.py) and words (analyses/advice.py)."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import defaultdict
from typing import Any

from trainperf.trace import common
from trainperf.trace.analyses import advice, counterfactual, pricing
from trainperf.trace.quick.timeline import Ev, div, length, union

_FP32_KERNELS = re.compile(r"sgemm|scudnn")  # opportunities._FP32_KERNELS


def sol(evs: list[Ev], gpu: Any | None) -> list[dict[str, Any]]:
    """sol.op_sol."""
    per: dict[tuple[int, int], list[int]] = {}
    for e in evs:
        if e["gpu"] and e["op_idx"] is not None and e["category"] != "communication":
            per.setdefault((e["rank"], e["op_idx"]), []).append(e["dur"])
    sig: dict[tuple[Any, ...], list[float]] = {}
    for (rank, op_idx), d in per.items():
        o = evs[op_idx]
        op, shapes = (o["name"], o["shapes"]) if o["cat"] == "cpu_op" else (None, None)
        a = sig.setdefault((rank, op, shapes), [0, 0, 0, 0.0])
        a[0] += 1
        a[1] += len(d)
        a[2] += sum(d)
        a[3] += sum(d) / len(d) * len(d)
    prices = {k: pricing.price(k[0], k[1]) for k in {(op, sh) for _, op, sh in sig}}
    rows = []
    bw = float(gpu.hbm_bw_GBps) if gpu is not None else 0.0
    peaks = {d: pricing.peak_tflops(gpu, d) for d in {p[3] for p in prices.values() if p[3] is not None}} \
        if gpu is not None else {}
    for (rank, op, shapes), (calls, kernels, t, wsum) in sig.items():
        cat, flops, nbytes, dtype, cov, why = prices[(op, shapes)]
        r: dict[str, Any] = {"rank": rank, "op": op, "shapes": shapes, "calls": calls, "kernels": kernels,
                             "time_ns": t, "mean_kernel_ns": wsum / kernels, "cost_category": cat, "flops": flops,
                             "bytes": nbytes, "math_dtype": dtype, "covered": cov, "unpriced": why}
        if gpu is not None:
            peak = peaks.get(dtype) if dtype is not None else None
            t_c = flops / (peak * 1e3) if flops is not None and peak is not None else 0.0
            t_m = nbytes / bw if nbytes is not None else None
            s = max(t_c, t_m) * calls if cov and t_m is not None else None
            tiny = s is not None and s / kernels < pricing.KERNEL_FLOOR_NS
            r.update(sol_ns=s, sol_frac=div(s, t),
                     achieved_tflops=None if flops is None else div(flops * calls, t) / 1e3,  # type: ignore[operator]
                     achieved_GBps=None if nbytes is None else div(nbytes * calls, t),
                     intensity=div(flops, nbytes),
                     bound_by=None if not cov else "latency" if tiny else "compute" if t_c >= t_m else "memory")  # type: ignore[operator]
        rows.append(r)
    rows.sort(key=lambda r: (-r["time_ns"], r["rank"], r["op"] is None, r["op"] or "", r["shapes"] is None,
                             r["shapes"] or ""))
    return rows


def sol_summary(rows: list[dict[str, Any]], priced_on_gpu: bool) -> dict[str, float]:
    """sol.sol_summary (``priced_on_gpu``: the rows have SOL columns)."""
    total = float(sum(r["time_ns"] for r in rows))
    cov = [r for r in rows if r["covered"]]
    ct = float(sum(r["time_ns"] for r in cov))
    out = {"op_kernel_ns": total, "covered_ns": ct, "covered_frac": ct / total if total else math.nan}
    for why in (pricing.NO_SHAPES, pricing.UNRECORDED, pricing.NO_FORMULA):
        out[f"unpriced_{why.replace(' ', '_')}_ns"] = float(sum(r["time_ns"] for r in rows if r["unpriced"] == why))
    if priced_on_gpu:
        s = float(sum(r["sol_ns"] or 0 for r in cov))
        out.update(sol_ns=s, sol_frac=s / ct if ct else math.nan)
    return out


def _scope(evs: list[Ev]) -> tuple[list[Ev], dict[int, int]]:
    """host._scope: each rank's cpu_ops inside its ProfilerSteps (all of them when it has none), self
    times added, and its number of steps (0: none)."""
    ops = [e for e in evs if e["cat"] == "cpu_op" and e["ph"] == "X"]
    own, top = common.self_times([(e["rank"], e["pid"], e["tid"]) for e in ops], [e["ts"] for e in ops],
                                 [e["dur"] for e in ops])
    steps: dict[int, set[int]] = defaultdict(set)
    for e in ops:
        steps[e["rank"]]
        if e["step"] is not None:
            steps[e["rank"]].add(e["step"])
    n = {r: len(s) for r, s in steps.items()}
    kept = [{**e, "self_ns": o, "top": t} for e, o, t in zip(ops, own, top, strict=True)
            if n[e["rank"]] == 0 or e["step"] is not None]
    return kept, n


def host(evs: list[Ev]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(host.host_summary, host.host_ops)."""
    ops, n = _scope(evs)
    by: dict[int, list[Ev]] = defaultdict(list)
    for e in ops:
        by[e["rank"]].append(e)
    summary, per_op = [], []
    for rank in sorted(n):
        v, per = by.get(rank, []), max(1, n[rank])
        if not v:
            continue
        spans = [e["dur"] for e in evs if e["rank"] == rank and e["ph"] == "X" and e["name"] is not None
                 and e["name"].startswith("ProfilerStep#")]
        window = (sum(spans) / len(spans) if spans else None) if n[rank] else \
            float(max(e["ts"] + e["dur"] for e in v) - min(e["ts"] for e in v))
        threads: dict[tuple[Any, Any], int] = defaultdict(int)
        for e in v:
            if e["top"]:
                threads[(e["pid"], e["tid"])] += e["dur"]
        busiest = max(threads.values()) if threads else 0
        in_ops = busiest / per if window is None else min(busiest / per, window)
        rt = [e["dur"] for e in evs if e["rank"] == rank and e["cat"] in common.RUNTIME_CATS and e["ph"] == "X"
              and (n[rank] == 0 or e["step"] is not None)]
        summary.append({"rank": rank, "steps": n[rank], "window_ns": window, "ops_per_step": len(v) / per,
                        "in_ops_ns": in_ops, "outside_ops_ns": None if window is None else window - in_ops,
                        "op_self_median_ns": float(statistics.median(e["self_ns"] for e in v)),
                        "launch_calls_per_step": len(rt) / per, "launch_ns_per_step": sum(rt) / per})
        names: dict[Any, list[int]] = {}
        for e in v:
            a = names.setdefault(e["name"], [0, 0, 0])
            a[0] += 1
            a[1] += e["self_ns"]
            a[2] += e["dur"]
        every = sum(a[1] for a in names.values())
        for name, (calls, own, tot) in names.items():
            per_op.append({"rank": rank, "name": name, "calls": calls, "self_ns": own, "total_ns": tot,
                           "steps": n[rank], "calls_per_step": calls / per, "self_per_step_ns": own / per,
                           "share": div(own, every)})
    per_op.sort(key=lambda r: (r["rank"], -r["self_ns"], r["name"] is None, r["name"] or ""))
    return summary, per_op


def opportunities(evs: list[Ev], gpu_by: dict[int, list[Ev]], temporal: list[dict[str, Any]],
                  launch: list[dict[str, Any]], overlap: list[dict[str, Any]], coll: list[dict[str, Any]],
                  sol_rows: list[dict[str, Any]], imb: list[dict[str, Any]], gpu: Any | None) -> list[dict[str, Any]]:
    """opportunities.opportunities."""
    steps = [r for r in temporal if r["step"] != common.ALL_STEPS]
    t = steps or temporal
    if not t:
        return []
    has_steps = bool(steps)
    n_steps = max(1, len({r["step"] for r in t})) if has_steps else 1
    n_ranks = max(1, len({r["rank"] for r in t}))
    means = {k: sum(r[k] for r in t) / len(t) for k in
             ("window", "compute", "communication", "copy", "idle_host", "idle_sync", "idle_other")}

    def mean(rows: list[dict[str, Any]], k: str) -> float | None:
        v = [r[k] for r in rows if r[k] is not None]
        return sum(v) / len(v) if v else None

    kinds: dict[str, list[Any]] = {}
    for r in coll:
        k = kinds.setdefault(r["kind"], [0, [], 0])
        k[0] += r["count"]
        k[2] += r["time_ns"]
        if r["busbw_GBps"] is not None:
            k[1].append(r["busbw_GBps"])
    ck = [(kd, c, sum(b) / len(b) if b else None) for kd, (c, b, _) in
          sorted(kinds.items(), key=lambda kv: (-kv[1][2], kv[0]))]
    compute = counterfactual.compute(sol_rows if gpu is not None else [], _op_sequence(evs) if gpu is not None else [],
                                     gpu, _fp32_kernels(sol_rows, gpu_by, gpu), n_steps * n_ranks)
    straggler = None
    if len(imb) > 1:
        c = [r["compute_ns"] for r in imb]
        r0 = sorted(imb, key=lambda r: (-r["compute_ns"], r["rank"]))[0]
        straggler = (int(r0["rank"]), float(r0["compute_ns"]), float(max(c) - sum(c) / len(c)))
    f = advice.Findings(means=means, per="per step" if has_steps else "over the trace",
                        dataloader_ns=_dataloader_idle(evs, gpu_by) / n_ranks / n_steps,
                        kernels_per_step=mean(launch, "kernels_per_step"), short_share=mean(launch, "short_share"),
                        overlap=mean(overlap, "overlap") if overlap else None, collectives=tuple(ck),
                        compute=compute, straggler=straggler)
    return advice.opportunity_rows(f, gpu)


def _dataloader_idle(evs: list[Ev], gpu_by: dict[int, list[Ev]]) -> float:
    total = 0
    for rank, g in gpu_by.items():
        dl = union([(e["ts"], e["ts"] + e["dur"]) for e in evs if e["rank"] == rank and e["ph"] == "X"
                    and e["name"] is not None and e["name"].startswith("enumerate(DataLoader)")])
        if not dl:
            continue
        u = union([(e["ts"], e["ts"] + e["dur"]) for e in g])
        idle = [(a[1], b[0]) for a, b in itertools.pairwise(u) if b[0] > a[1]]
        if idle:
            total += length(dl) + length(idle) - length(union(dl + idle))
    return float(total)


def _fp32_kernels(rows: list[dict[str, Any]], gpu_by: dict[int, list[Ev]], gpu: Any | None) -> dict[str, float]:
    """opportunities._compute_inputs: fp32 kernel time by category from kernel names, when no op was priced."""
    if gpu is None or any(r["covered"] for r in rows):
        return {}
    by: dict[str, float] = defaultdict(float)
    for g in gpu_by.values():
        for e in g:
            if e["name"] is not None and _FP32_KERNELS.search(e["name"]):
                by[e["category"]] += e["dur"]
    return dict(by)


def _op_sequence(evs: list[Ev]) -> list[counterfactual.Inst]:
    """opportunities._op_sequence."""
    names = {*counterfactual.SOFTMAX, *counterfactual.SOFTMAX_BWD}
    threads = {(e["rank"], e["tid"]) for e in evs if e["cat"] == "cpu_op" and e["name"] in names
               and e["tid"] is not None and e["shapes"] is not None}
    if not threads:
        return []
    ns: dict[tuple[int, int], int] = defaultdict(int)
    for e in evs:
        if e["gpu"] and e["op_idx"] is not None and e["category"] != "communication":
            ns[(e["rank"], e["op_idx"])] += e["dur"]
    out = []
    for (rank, i), t in ns.items():
        o = evs[i]
        if o["cat"] == "cpu_op" and (rank, o["tid"]) in threads:
            out.append((rank, o["tid"], o["ts"], i, o["name"], o["shapes"], t))
    out.sort(key=lambda s: s[:4])
    return out
