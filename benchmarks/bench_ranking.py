"""Ranking accuracy of the distributed model on the published runs (issue 10), and search against experts.

Groups: published rows with the same model, GPU type, GPU count, global batch and sequence length, and
at least two different layouts (tp, pp, cp, ep, vp, micro-batch, ZeRO/FSDP, recompute, precision).
Repeated measurements of one layout (several releases of one recipe) are one layout: the median of their
measured and predicted tokens/s/GPU. Per group:
- regret of the predicted-best layout: measured best / measured of the predicted pick - 1;
- top-1 hit: the predicted pick is the measured best;
- pairwise order agreement: share of layout pairs whose predicted order matches the measured one
  (pairs measured within 1% of each other are ties and left out).
Shown twice: the issue's grouping (precision and software setup may differ inside a group), and strict
groups that also share the precision and the plan's non-layout settings (LoRA, sequence packing,
attention kernels, overlaps, fused loss), so that only the layout differs.

``--search`` also runs the layout search for every group's job (row settings kept, precision fixed) and
reports the searched pick's measured regret where the pick is one of the measured layouts.
``--experts`` runs the search for every supported published row and prints, for each row where search
claims > 5% over the expert's layout, the gain and the mechanism that changes most (bubble, exposed
communication by axis, recompute, compute efficiency); docs/optimize.md shows the output.

    python benchmarks/bench_ranking.py [--search] [--experts] [--csv FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from trainperf.optimize.search import search_layouts
from trainperf.optimize.space import SearchSpace
from trainperf.parallel.estimate import Infeasible, PlanEstimate, evaluate
from trainperf.parallel.memory import recompute_candidates
from trainperf.validation.published import RowSetup, Unsupported, measured_tokens, row_setup, source_family
from trainperf.validation.validate import FIT_SOURCES, read_rows

TIE = 0.01
SEARCHED = ("gpus", "tp", "pp", "vp", "cp", "ep", "etp", "mbs", "gbs", "seq", "sharding", "recompute",
            "recompute_layers", "precision", "tp_comm_overlap", "labels")


@dataclasses.dataclass
class Row:
    id: str
    group: tuple[str, ...]
    setup: RowSetup
    est: PlanEstimate
    measured: float

    @property
    def layout(self) -> tuple[Any, ...]:
        p = self.est.plan
        return (p.tp, p.pp, p.cp, p.ep, p.vp, p.mbs, p.sharding.value, p.recompute.value, p.precision)


def expert_estimate(setup: RowSetup) -> PlanEstimate | Infeasible:
    """The row's own layout; where it leaves recompute out, the least that fits (as validate does)."""
    plans = [setup.plan] if setup.recompute_given else recompute_candidates(
        setup.arch, setup.plan, setup.cluster.gpu.hbm_capacity_GB)
    est: PlanEstimate | Infeasible = Infeasible("no plan")
    for p in plans:
        est = evaluate(setup.arch, p, setup.cluster)
        if isinstance(est, PlanEstimate):
            return est
    return est


def load(csv: Path) -> tuple[list[Row], dict[str, int]]:
    rows, skipped = [], defaultdict(int)
    for r in read_rows(csv):
        try:
            setup = row_setup(r)
        except (Unsupported, ValueError, KeyError):
            skipped["unsupported"] += 1
            continue
        if not setup.layout_given:
            skipped["layout not given"] += 1
            continue
        meas, _ = measured_tokens(r, setup.arch)
        est = expert_estimate(setup)
        if not meas:
            skipped["no measured throughput"] += 1
        elif isinstance(est, Infeasible):
            skipped["measured but predicted infeasible"] += 1
        else:
            key = (str(r["model_name"]), str(r["gpu_type"]), str(r["n_gpus"]), str(r["global_batch_seqs"]),
                   str(r["seq_len"]))
            rows.append(Row(id=str(r["id"]), group=key, setup=setup, est=est, measured=meas))
    return rows, dict(skipped)


def ranking(rows: list[Row], *, by_precision: bool) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], dict[tuple[Any, ...], list[Row]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        # strict: also one precision and one software setup (LoRA, packing, kernels, overlaps: the plan's
        # non-layout fields), so only the layout differs
        g = (*r.group, r.est.plan.precision, job_space(r.setup).base) if by_precision else r.group
        groups[g][r.layout].append(r)
    out = []
    for g, lays in sorted(groups.items()):
        if len(lays) < 2:
            continue
        pts = [(statistics.median(x.measured for x in rs), statistics.median(x.est.tokens_per_s_per_gpu for x in rs),
                lay, rs) for lay, rs in lays.items()]
        best_meas = max(p[0] for p in pts)
        pick = max(pts, key=lambda p: (p[1], -p[0]))  # ties in prediction: the pessimistic choice
        agree = total = 0
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                (mi, pi, *_), (mj, pj, *_) = pts[i], pts[j]
                if abs(mi - mj) <= TIE * max(mi, mj):
                    continue
                total += 1
                agree += (mi > mj) == (pi > pj)
        fams = {source_family(x.id) for _, _, _, rs in pts for x in rs}
        out.append({"group": g, "layouts": len(pts), "regret": best_meas / pick[0] - 1.0,
                    "hit": pick[0] >= best_meas * (1 - 1e-12), "pairs": total, "agree": agree,
                    "split": "fit" if fams <= set(FIT_SOURCES) else "holdout", "points": pts})
    return out


def _pct(v: float) -> str:
    return f"{100 * v:5.1f}%"


def summarize(res: list[dict[str, Any]], title: str) -> None:
    print(f"\n{title}")
    print(f"{'split':8} {'groups':>6} {'regret med':>10} {'regret p90':>10} {'top-1':>7} {'pairs':>6} {'order agree':>11}")
    for split in ("fit", "holdout", "all"):
        sel = [r for r in res if split == "all" or r["split"] == split]
        if not sel:
            continue
        reg = sorted(r["regret"] for r in sel)
        p90 = float(np.quantile(reg, 0.9))  # linear interpolation, as validate's p90
        pairs = sum(r["pairs"] for r in sel)
        agree = sum(r["agree"] for r in sel) / pairs if pairs else float("nan")
        hit = sum(r["hit"] for r in sel) / len(sel)
        print(f"{split:8} {len(sel):>6} {_pct(statistics.median(reg)):>10} {_pct(p90):>10} {_pct(hit):>7} "
              f"{pairs:>6} {_pct(agree):>11}")


def detail(res: list[dict[str, Any]]) -> None:
    print("\nper group (measured / predicted tokens/s/GPU of each layout; * = predicted pick, ! = measured best)")
    for r in res:
        g = r["group"]
        best = max(p[0] for p in r["points"])
        pick = max(r["points"], key=lambda p: (p[1], -p[0]))
        print(f"  {g[0]} | {g[1]} | {g[2]} GPUs | gbs {g[3]} | seq {g[4]}"
              + (f" | {g[5]}" if len(g) > 5 else "") + f": regret {_pct(r['regret'])}")
        for m, p, lay, rs in sorted(r["points"], key=lambda x: -x[0]):
            mark = ("*" if lay == pick[2] else " ") + ("!" if m == best else " ")
            print(f"    {mark} tp{lay[0]} pp{lay[1]} cp{lay[2]} ep{lay[3]} vp{lay[4]} mbs{lay[5]} {lay[6]} "
                  f"{lay[7]} {lay[8]}: {m:,.0f} / {p:,.0f}  ({', '.join(x.id for x in rs)})")


def job_space(setup: RowSetup) -> SearchSpace:
    """The row's job with every non-layout setting of its plan kept and its precision fixed."""
    p = setup.plan
    base = tuple((f.name, getattr(p, f.name)) for f in dataclasses.fields(p) if f.name not in SEARCHED)
    return SearchSpace(gpus=p.gpus, gbs=p.gbs, seq=p.seq, precision=p.precision, base=base)


def searched_regret(res: list[dict[str, Any]]) -> None:
    print("\nsearched pick vs measured layouts (strict groups)")
    n = hits = 0
    regrets = []
    for r in res:
        rs0 = r["points"][0][3][0]
        sr = search_layouts(rs0.setup.arch, job_space(rs0.setup), rs0.setup.cluster, top=1)
        if sr.best is None:
            continue
        b = sr.best.plan
        key = (b.tp, b.pp, b.cp, b.ep, b.vp, b.mbs, b.sharding.value, b.recompute.value, b.precision)
        best_meas = max(p[0] for p in r["points"])
        pred_best_measured = max(p[1] for p in r["points"])
        n += 1
        match = [p for p in r["points"] if p[2] == key]
        gain = sr.best.tokens_per_s_per_gpu / pred_best_measured - 1
        if match:
            hits += 1
            regrets.append(best_meas / match[0][0] - 1)
            note = f"pick measured: regret {_pct(regrets[-1])}"
        else:
            note = "pick not among the measured layouts"
        g = r["group"]
        print(f"  {g[0]} | {g[1]} | {g[2]} GPUs: search predicts {_pct(gain)} over the best measured layout's "
              f"prediction ({b.describe()}); {note}")
    if regrets:
        print(f"  searched pick measured in {hits} of {n} groups: median regret {_pct(statistics.median(regrets))}")
    else:
        print(f"  searched pick measured in 0 of {n} groups: no measured regret to report")


def experts(rows: list[Row], threshold: float = 0.05) -> None:
    """Search vs the expert's layout for every supported published row (one search per distinct job)."""
    print(f"\nagainst experts: rows where search claims > {threshold:.0%} over the published layout")
    print("| row | model | GPUs | expert layout | searched best | gain | mechanism |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cache: dict[Any, Any] = {}
    gains = []
    claims: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    t0 = time.perf_counter()
    for r in rows:
        sp = job_space(r.setup)
        key = (r.setup.arch, r.setup.cluster.name, r.setup.cluster.gpu.name, sp)
        if key not in cache:
            cache[key] = search_layouts(r.setup.arch, sp, r.setup.cluster, top=1)
        sr = cache[key]
        if sr.best is None:
            continue
        gain = sr.best.tokens_per_s_per_gpu / r.est.tokens_per_s_per_gpu - 1
        gains.append(gain)
        if gain > threshold:
            mech = mechanism(r.est, sr.best)
            claims[(source_family(r.id), r.group[0])].append((gain, _main(mech)))
            print(f"| {r.id} | {r.group[0]} | {r.group[2]} x {r.setup.cluster.gpu.name} | {_lay(r.est)} | "
                  f"{_lay(sr.best)} | {_pct(gain).strip()} | {mech} |")
    over = sum(g > threshold for g in gains)
    print("\nby source and model (rows where search claims > 5%)")
    print("| source | model | rows | median claimed gain | main mechanism (rows) |")
    print("| --- | --- | --- | --- | --- |")
    for (fam, model), v in sorted(claims.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        mech = Counter(m for _, m in v).most_common(1)[0]
        print(f"| {fam} | {model} | {len(v)} | {_pct(statistics.median(g for g, _ in v)).strip()} | "
              f"{mech[0]} ({mech[1]}) |")
    print(f"\n{len(gains)} rows, {len(cache)} searches in {time.perf_counter() - t0:.0f} s; search claims > "
          f"{threshold:.0%} on {over} ({_pct(over / max(len(gains), 1)).strip()}); median claimed gain "
          f"{_pct(statistics.median(gains)).strip() if gains else '-'}")


def _main(mech: str) -> str:
    """'recompute 21%, overheads 9% of the step' -> 'recompute'."""
    first = mech.removesuffix(" of the step").split(",")[0].strip()
    return first.rsplit(" ", 1)[0] if first.endswith("%") else first


def _lay(e: PlanEstimate) -> str:
    p = e.plan
    s = f"tp{p.tp} pp{p.pp}" + (f" vp{p.vp}" if p.vp > 1 else "") + (f" cp{p.cp}" if p.cp > 1 else "")
    s += (f" ep{p.ep}" if p.ep > 1 else "") + f" dp{p.dp} mbs{p.mbs} {p.sharding.value}"
    return s + (f" {p.recompute.value}" if p.recompute.value != "none" else "")


def mechanism(expert: PlanEstimate, best: PlanEstimate) -> str:
    """The step-time part that shrinks most from the expert's layout to the searched one (same job, so
    step-time differences are throughput differences)."""
    def parts(e: PlanEstimate) -> dict[str, float]:
        d = {"pipeline bubble": e.bubble_s, "recompute": e.compute_s.get("recompute", 0.0),
             "compute efficiency": sum(v for k, v in e.compute_s.items() if k != "recompute"),
             "overheads": e.overhead_s + e.optimizer_s}
        for k, v in e.exposed_comm_s.items():
            axis = k.rsplit("@", 1)[-1].removesuffix("-step")
            d[f"exposed {axis} comm"] = d.get(f"exposed {axis} comm", 0.0) + v
        # what the parts above do not name: per-layer framework work and MoE dispatch costs paid per
        # micro-batch (StepModelParams.layer_overhead_s, moe_layer/expert_overhead_s)
        d["per-micro-batch overheads"] = e.step_time_s - sum(d.values())
        return d
    a, b = parts(expert), parts(best)
    diffs = sorted(((a.get(k, 0.0) - b.get(k, 0.0), k) for k in {*a, *b}), reverse=True)
    total = expert.step_time_s - best.step_time_s
    top = [f"{k} {100 * d / expert.step_time_s:.0f}%" for d, k in diffs[:2] if d > 0.1 * total]
    return (", ".join(top) or "several parts, none > 10% of the gain") + " of the step"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=None, help="published-format CSV (default: the packaged one)")
    ap.add_argument("--search", action="store_true", help="also the searched pick's measured regret per group")
    ap.add_argument("--experts", action="store_true", help="also search vs every published expert layout")
    ap.add_argument("--detail", action="store_true", help="print every group's layouts")
    args = ap.parse_args()
    if args.csv is None:
        from trainperf.data import PUBLISHED_CSV

        args.csv = PUBLISHED_CSV
    t0 = time.perf_counter()
    rows, skipped = load(args.csv)
    print(f"{len(rows)} rows predicted with a measured throughput; skipped: "
          + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) + f" ({time.perf_counter() - t0:.1f} s)")
    loose = ranking(rows, by_precision=False)
    strict = ranking(rows, by_precision=True)
    summarize(loose, "groups by model, GPU, GPU count, global batch, seq (precision is part of the layout)")
    summarize(strict, "groups also by precision and software setup (only the layout differs)")
    if args.detail:
        detail(strict)
    if args.search:
        searched_regret(strict)
    if args.experts:
        experts(rows)


if __name__ == "__main__":
    main()
