"""Trace analyzer speed, memory and agreement, side by side with Holistic Trace Analysis (HTA).

Each tool runs in its own fresh subprocess per trace, so peak RSS (ru_maxrss) is that process's own and
wall time includes every import. "analyze" = load + every analysis each tool offers that we compare:
trainperf `analyze()` (temporal, kernels, launch, overlap, collectives, imbalance, SOL, opportunities);
HTA TraceAnalysis(...) + temporal breakdown + kernel breakdown + comm/comp overlap + idle-time breakdown.
Agreement: HTA leaves out GPU work launched in the last ProfilerStep (trace.py
_filter_irrelevant_gpu_kernels) and counts over [first kernel start, last kernel end]; we apply the same
filter to our Events table, then compare compute / non-compute (communication + memcpy/memset) / idle and
the kernel-time sums per HTA kernel type, as a fraction of the mean step time.
Targets (issue 5): >= 5x faster, <= half the peak memory, agreement within 1% of step time.
HTA is optional (`pip install holistictraceanalysis`, or `--hta-path DIR` for a `pip install --target DIR`);
without it its columns print "skipped".

`--cli`: the command a user types, `trainperf analyze FILE --json`, whole process (interpreter start,
imports, analysis, printing) timed from outside, for both engines: the small-trace engine (trace/quick,
what the command runs for a file up to 6 MiB of JSON) and the polars engine (what it runs above that),
each on every trace, with `python -c pass` as the floor and HTA beside them; and whether the two
engines' JSON agree (to 1e-9).
Run: python benchmarks/bench_trace.py [--big N [--big-ranks K]] [--repeat 5] [--json OUT] [--cli]
Peak memory at scale: `--big 83 --no-hta --only` (no shipped traces) builds the V100 trace repeated 83 times,
1.0 GB of JSON and 5.7M events in one file (`--big-ranks 16`: cut into 16 rank files instead, 16 x 61 MB
for `--big 5`), and reports trainperf's peak RSS on it (docs/trace.md, Memory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "data" / "traces"  # the repository copy of shared/data/traces
DEFAULT = ["ns_resolution_trace", "nccl_parser_config", "param_dlrm_8rank", "trace_filter", "param_2080ti_resnet",
           "param_2080ti_linear", "tracelens_h100_qwen"]

TRAINPERF = r"""
import json, sys, time
def hwm():
    # peak RSS of this process image (VmHWM); ru_maxrss would also count the parent's peak before exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
import polars as pl
from trainperf.trace import analyze, load_trace
from trainperf.trace.analyses.temporal import temporal_breakdown
t_import = time.perf_counter() - t0
a = analyze(sys.argv[1])  # (as `trainperf analyze` does: the analysis table, load_trace(for_analysis=True))
t_all = time.perf_counter() - t0
rss = hwm()
ev = a.trace.events
steps = ev.filter(pl.col("name").cast(pl.String).str.starts_with("ProfilerStep#") & (pl.col("ph") == "X"))
out = {}
floor_us = len(sys.argv) > 2
bases = {}
if floor_us:
    from pathlib import Path
    from trainperf.trace.reader import _array_bounds, read_bytes
    for r in a.trace.ranks:
        p = Path(r.path)
        bases[r.rank] = int(_array_bounds(read_bytes(p), p)[2].get("baseTimeNanoseconds") or 0)
for rank in sorted(ev["rank"].unique().to_list()):
    e = ev.filter(pl.col("rank") == rank)
    s = steps.filter(pl.col("rank") == rank)
    n_steps = max(1, s.height - 1) if s.height > 1 else 1
    if s.height > 1:  # HTA's filter: GPU work launched before the last ProfilerStep starts
        e = e.filter(~pl.col("gpu") | (pl.col("launch_ts") < s["ts"].max()))
    if floor_us:  # HTA's rounding of ns-resolution traces (trace_parser.py round_down_time_stamps): in float64
        # us as the file writes them (no baseTimeNanoseconds), ts = ceil(ts), end = floor(ts + dur); at
        # epoch-scale ts float64 resolves 0.25 us, so this moves each kernel edge by up to 1.25 us
        rel = pl.col("ts") - bases[rank]
        ts_f = (rel // 1000).cast(pl.Float64) + (rel % 1000).cast(pl.Float64) / 1000
        dur_f = (pl.col("dur") // 1000).cast(pl.Float64) + (pl.col("dur") % 1000).cast(pl.Float64) / 1000
        e = e.with_columns(ts=(ts_f.ceil().cast(pl.Int64) * 1000 + bases[rank]),
                           dur=((ts_f + dur_f).floor() - ts_f.ceil()).cast(pl.Int64).clip(lower_bound=0) * 1000)
    g = e.filter("gpu")
    if g.height == 0:
        continue
    t = temporal_breakdown(e, by_step=False).row(0, named=True)
    kind = (pl.when(pl.col("category") == "communication").then(pl.lit("COMMUNICATION"))
            .when(pl.col("category") == "copy").then(pl.lit("MEMORY")).otherwise(pl.lit("COMPUTATION")))
    k = g.group_by(kind.alias("kind")).agg(pl.col("dur").sum())
    out[rank] = {"window": t["window"] / 1e3, "compute": t["compute"] / 1e3,
                 "non_compute": (t["communication"] + t["copy"]) / 1e3, "idle": t["idle"] / 1e3,
                 "n_steps": n_steps, "kernels": {r[0]: r[1] / 1e3 for r in k.iter_rows()}}
print(json.dumps({"wall_s": t_all, "import_s": t_import, "rss_mb": rss, "events": a.to_dict()["events"],
                  "ranks": out}))
"""

HTA = r"""
import json, logging, sys, time, warnings
def hwm():
    # peak RSS of this process image (VmHWM); ru_maxrss would also count the parent's peak before exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
t0 = time.perf_counter()
from hta.trace_analysis import TraceAnalysis
t_import = time.perf_counter() - t0
a = TraceAnalysis(trace_dir=sys.argv[1])
tb = a.get_temporal_breakdown(visualize=False)
kb = a.get_gpu_kernel_breakdown(visualize=False)
for extra in ("get_comm_comp_overlap", "get_idle_time_breakdown"):
    try:
        getattr(a, extra)(visualize=False)
    except Exception:
        pass
t_all = time.perf_counter() - t0
rss = hwm()
out = {}
for r in tb.to_dict("records"):
    out[int(r["rank"])] = {"window": float(r["kernel_time(us)"]), "compute": float(r["compute_time(us)"]),
                           "non_compute": float(r["non_compute_time(us)"]), "idle": float(r["idle_time(us)"])}
per = kb[1].groupby(["rank", "kernel_type"])["sum (us)"].sum()
for (rank, kind), v in per.items():
    out.setdefault(int(rank), {}).setdefault("kernels", {})[kind] = float(v)
print(json.dumps({"wall_s": t_all, "import_s": t_import, "rss_mb": rss, "ranks": out}))
"""


def _prepare(name: str, tmp: Path) -> Path:
    """A folder for each named trace (HTA reads folders); single files get a folder of their own."""
    single = {"param_2080ti_resnet": TRACES / "param_2080ti" / "resnet_kineto.json.gz",
              "param_2080ti_linear": TRACES / "param_2080ti" / "linear_kineto.json.gz",
              "tracelens_h100_qwen": TRACES / "tracelens_h100" / "Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"}
    if name in single:
        d = tmp / name
        d.mkdir(exist_ok=True)
        (d / single[name].name).symlink_to(single[name])
        return d
    return TRACES / name


def _big(n: int, tmp: Path, ranks: int = 1) -> Path:
    """The V100 trace's events repeated n times back to back (shifted in time): a large single-rank trace,
    or ``ranks`` copies of it as the files of one job (distributedInfo rank 0..ranks-1)."""
    import gzip

    import orjson

    src = TRACES / "ns_resolution_trace" / "rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    doc = orjson.loads(gzip.decompress(src.read_bytes()))
    evs = doc.pop("traceEvents")
    span = max(e.get("ts", 0) + e.get("dur", 0) for e in evs) - min(e.get("ts", 1e30) for e in evs if "ts" in e)
    d = tmp / f"big_x{n}"
    d.mkdir(exist_ok=True)
    with open(d / "rank-0.json", "wb") as f:
        f.write(orjson.dumps(doc)[:-1] + b', "traceEvents": [\n')
        for i in range(n):
            shift = i * (span + 1000.0)
            chunk = []
            for e in evs:
                e2 = dict(e)
                if "ts" in e2:
                    e2["ts"] = e2["ts"] + shift
                if e2.get("ph") in ("s", "f") and "id" in e2:
                    e2["id"] = e2["id"] + i * 10_000_000
                a = e2.get("args")
                if isinstance(a, dict) and ("correlation" in a or "External id" in a):
                    a = dict(a)
                    for key in ("correlation", "External id"):
                        if isinstance(a.get(key), int):
                            a[key] += i * 10_000_000
                    e2["args"] = a
                if isinstance(e2.get("name"), str) and e2["name"].startswith("ProfilerStep#"):
                    e2["name"] = f"ProfilerStep#{int(e2['name'][13:]) + i * 100}"
                chunk.append(orjson.dumps(e2))
            f.write((b",\n" if i else b"") + b",\n".join(chunk))
        f.write(b"\n]}")
    if ranks > 1:
        _ranks(d / "rank-0.json", ranks)
    return d


def _ranks(one: Path, k: int) -> None:
    """``one`` as rank 0 of k: k copies that differ only in distributedInfo's rank and world_size."""
    body = one.read_bytes()
    key = b'"rank":0,"world_size":1'
    at = body.index(key)
    for r in range(k):
        (one.parent / f"rank-{r}.json").write_bytes(
            body[:at] + b'"rank":%d,"world_size":%d' % (r, k) + body[at + len(key):])


_HTA_PATH: list[str] = []  # --hta-path, for the HTA child processes


def _run(code: str, path: Path, *extra: str) -> dict:
    """The tool's result from a fresh process (or {"error": last line of its stderr})."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed (_PYC)
    env["PYTHONPYCACHEPREFIX"] = str(_PYC)
    if _HTA_PATH and code is HTA:
        env["PYTHONPATH"] = _HTA_PATH[0]
    r = subprocess.run([sys.executable, "-c", code, str(path), *extra], capture_output=True, text=True,
                       timeout=3600, env=env)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:100]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _best(a: dict | None, b: dict) -> dict:
    """The faster of two runs (the least disturbed on a shared machine), with the larger peak RSS."""
    if a is None or "error" in a or "error" in b:
        return b if a is None or "error" in b else a
    fast = a if a["wall_s"] <= b["wall_s"] else b
    return {**fast, "rss_mb": max(a["rss_mb"], b["rss_mb"])}


def _agreement(ours: dict, hta: dict) -> tuple[float, float]:
    """Worst per-step |ours - HTA| over ranks, as a fraction of the step time, for the temporal parts and
    for the kernel-type sums. Both tools sum over the same steps, so per step that is the whole-trace
    difference over the whole window."""
    t_err = k_err = 0.0
    for rank, h in hta["ranks"].items():
        o = ours["ranks"].get(str(rank)) or ours["ranks"].get(rank)
        if o is None or "window" not in h:
            continue
        step = h["window"]  # n_steps x the mean step; differences are over the same n_steps
        t_err = max(t_err, *(abs(o[c] - h[c]) / step for c in ("window", "compute", "non_compute", "idle")))
        for kind, v in h.get("kernels", {}).items():
            k_err = max(k_err, abs(o["kernels"].get(kind, 0.0) - v) / step)
    return t_err, k_err


CLI_TRACES = {
    "bert_h100 (1.1 MB)": TRACES / "tracelens_h100" / "gaunernst_bert-small-uncased__1016001.json.gz",
    "dlrm_worker0 (0.9 MB)": TRACES / "param_dlrm_8rank" / "worker0_step_12.1694128201545.pt.trace.json.gz",
    "rank_non_gpu (1.0 MB)": TRACES / "rank_non_gpu" / "rank_non_gpu.json.gz",
    "trace_filter_r0 (1.8 MB)": TRACES / "trace_filter" / "sampled_rank-0.json.gz",
    "falcon_h100 (2.3 MB)": TRACES / "tracelens_h100" / "Falconsai_nsfw_image_detection__1016002.json.gz",
    "qwen_h100 (8.7 MB)": TRACES / "tracelens_h100" / "Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz",
    "nccl_a100 (9.8 MB)": TRACES / "nccl_parser_config" / "nccl_data.json.gz",
}
# the small-trace engine with no size limit (to show where the polars engine overtakes it)
QUICK = ("import sys, trainperf.trace.quick as q; q.MAX_BYTES = 1 << 40; from trainperf.__main__ import main; "
         "sys.argv = ['trainperf', 'analyze', sys.argv[1], '--json']; main()")
POLARS = ("import sys; from trainperf.cli import main; sys.argv = ['trainperf', 'analyze', sys.argv[1], '--json']; "
          "main()")


# Children run as an installed package does: with compiled bytecode (pip compiles it at install time).
# This project's machines set PYTHONDONTWRITEBYTECODE=1, which makes every process compile every module it
# imports from source (29 ms of the small engine's 80); the cache goes to a temporary folder, not the tree.
_PYC = Path(tempfile.gettempdir()) / "trainperf-bench-pycache"


def _wall(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    import os
    import time

    full = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full.update(PYTHONPYCACHEPREFIX=str(_PYC), **(env or {}))
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=full, timeout=600)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError((r.stderr.strip().splitlines() or ["?"])[-1][:120])
    return wall, r.stdout


def _agree(a: str, b: str) -> bool:
    import math

    def same(x: object, y: object) -> bool:
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y, strict=True))
        if isinstance(x, float) or isinstance(y, float):
            return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)  # type: ignore[arg-type]
        return x == y

    return same(json.loads(a), json.loads(b))


def cli(repeat: int, hta_path: str | None) -> list[dict]:
    """The `--cli` table (module docstring)."""
    import importlib.util

    env = {"PYTHONPATH": hta_path} if hta_path else None
    have_hta = bool(hta_path) or importlib.util.find_spec("hta") is not None
    py = sys.executable
    print(f"{'trace':26} {'events':>8} | {'python':>6} {'small':>6} {'polars':>6} {'HTA':>6} | {'default':>7} "
          f"{'vs HTA':>6} | same JSON")
    rows = []
    floor = min(_wall([py, "-c", "pass"])[0] for _ in range(repeat))
    with tempfile.TemporaryDirectory() as t:
        for name, f in CLI_TRACES.items():
            q = p = h = float("inf")
            out_q = out_p = ""
            _wall([py, "-c", QUICK, str(f)])  # (the first run fills the bytecode cache)
            _wall([py, "-c", POLARS, str(f)])
            for _ in range(repeat):  # interleaved: both meet the same disturbances of a shared machine
                wq, out_q = _wall([py, "-c", QUICK, str(f)])
                wp, out_p = _wall([py, "-c", POLARS, str(f)])
                q, p = min(q, wq), min(p, wp)
                if have_hta:
                    d = Path(t) / name.split()[0]
                    d.mkdir(exist_ok=True)
                    if not (d / f.name).exists():
                        (d / f.name).symlink_to(f)
                    try:
                        h = min(h, _wall([py, "-c", HTA, str(d)], env)[0])
                    except RuntimeError:  # (HTA fails on traces without GPU kernels)
                        h = float("nan")
            from trainperf.trace.quick import small

            default = q if small(f) else p
            events = json.loads(out_p)["events"]
            row = {"trace": name, "events": events, "python_s": floor, "small_engine_s": q, "polars_engine_s": p,
                   "hta_s": h if have_hta and h == h else None, "default": "small" if small(f) else "polars",
                   "same_json": _agree(out_q, out_p)}
            rows.append(row)
            print(f"{name:26} {events:8,} | {floor:6.3f} {q:6.3f} {p:6.3f} "
                  f"{(f'{h:6.2f}' if have_hta else 'skip'):>6} | {default:7.3f} "
                  f"{(f'{h / default:5.1f}x' if have_hta else ''):>6} | {row['same_json']}", flush=True)
    print("seconds, whole process, fastest of the runs: python = `python -c pass`; small / polars = `trainperf "
          "analyze FILE --json` on each engine; default = the engine the command picks (small up to 6 MiB of JSON)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=DEFAULT)
    ap.add_argument("--big", type=int, default=0,
                    help="also a synthetic trace of the V100 trace repeated N times (12.2 MB each: 83 for 1 GB)")
    ap.add_argument("--big-ranks", type=int, default=1, help="the --big trace as this many rank files")
    ap.add_argument("--no-hta", action="store_true")
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs per tool and trace (2 above 50 MB); the fastest is reported")
    ap.add_argument("--json", default=None)
    ap.add_argument("--make-big", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--cli", action="store_true", help="time `trainperf analyze FILE --json` on both engines")
    ap.add_argument("--hta-path", default=None, help="a folder holding HTA (pip install --target)")
    args = ap.parse_args()
    if args.make_big:
        _big(int(args.make_big[0]), Path(args.make_big[1]), int(args.make_big[2]))
        return
    if args.cli:
        rows = cli(args.repeat, args.hta_path)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return
    if args.hta_path:
        _HTA_PATH.append(args.hta_path)
    try:
        if not args.hta_path:
            import hta
        have_hta = not args.no_hta
    except ImportError:
        have_hta = False
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        paths = [(n, _prepare(n, tmp)) for n in args.only]
        if args.big:  # built in a child process so this one stays small while the tools run
            subprocess.run([sys.executable, __file__, "--make-big", str(args.big), str(tmp), str(args.big_ranks)],
                           check=True)
            paths.append((f"big_x{args.big}", tmp / f"big_x{args.big}"))
        print(f"{'trace':24} {'MB':>6} {'events':>9} | {'trainperf s':>11} {'MB RSS':>7} | {'HTA s':>7} "
              f"{'MB RSS':>7} | {'speedup':>7} {'mem':>6} | {'temporal':>8} {'kernels':>8}")
        for name, p in paths:
            size = sum(f.stat().st_size for f in p.iterdir()) / 1e6
            # interleaved, so both tools meet the same disturbances on a shared machine
            reps = args.repeat if size < 50 else max(1, min(args.repeat, 2 if size < 500 else 1))
            ours = hta = None
            for _ in range(reps):
                ours = _best(ours, _run(TRAINPERF, p))
                hta = _best(hta, _run(HTA, p)) if have_hta else None
            floored = _run(TRAINPERF, p, "floor") if hta is not None and "error" not in hta else None
            row = {"trace": name, "size_MB": size, "trainperf": ours, "hta": hta}
            rows.append(row)
            if "error" in ours:
                print(f"{name:24} trainperf failed: {ours['error']}")
                continue
            line = f"{name:24} {size:6.1f} {ours['events']:9,} | {ours['wall_s']:11.2f} {ours['rss_mb']:7.0f} | "
            if hta is None:
                line += f"{'skipped':>7} {'':>7} | {'':>7} {'':>6} | {'':>8} {'':>8}"
            elif "error" in hta:
                line += f"HTA failed: {hta['error']}"
            else:
                te, ke = _agreement(ours, hta)
                fte, fke = _agreement(floored, hta) if floored and "error" not in floored else (te, ke)
                row.update(speedup=hta["wall_s"] / ours["wall_s"], mem_ratio=ours["rss_mb"] / hta["rss_mb"],
                           temporal_err=te, kernel_err=ke, temporal_err_floored=fte, kernel_err_floored=fke)
                line += (f"{hta['wall_s']:7.2f} {hta['rss_mb']:7.0f} | {row['speedup']:6.1f}x {row['mem_ratio']:6.2f} | "
                         f"{fte:8.3%} {fke:8.3%} ({te:.2%} {ke:.2%} in ns)")
            print(line, flush=True)
    print("speedup = HTA wall / trainperf wall (fresh process each, imports included); mem = trainperf / HTA "
          "peak RSS (VmHWM); temporal, kernels = worst |trainperf - HTA| over ranks and parts, in % of step "
          "time, with our times rounded to whole us as HTA does (in parentheses: our ns times as they are)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
