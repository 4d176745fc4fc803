"""Model vs the GPU measurements committed under benchmarks/results/ (written by benchmarks/gpu_measure.py).

For each results folder (one GPU, one date):
1. per-op kernel time, predicted (burst clocks, packaged calibration) vs measured, from the Kineto traces of
   the microbenchmarks (kernels_trace.json.gz) and of the zoo training steps (steps/*.json.gz): median / p90
   of |error| by group, as benchmarks/bench_model.py does for the public traces;
2. the sustained-GEMM run: measured last-window / first-window rate vs the model's [power] sustained_frac;
3. zoo training steps: predicted step time (the same workload, flavor, batch and sequence, bf16, eager,
   burst clocks: the measured runs are a few seconds long) vs the measured median.

Run: python benchmarks/bench_gpu_results.py [FOLDER ...] [--gpu NAME]
(no folder: every benchmarks/results/*/ with a meta.json; --gpu overrides the GPU the folder names).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig, load_calibration, predict_workload
from trainperf.model.calibrate import error_table, predict_kernels
from trainperf.model.trace_ops import read_trace_ops

RESULTS = Path(__file__).resolve().parent / "results"
con = Console(width=140)


def _fmt(r: dict[str, Any]) -> str:
    return f"{100 * r['median_abs_err']:.1f}% / {100 * r['p90_abs_err']:.1f}% ({r['n']})"


def per_op(folder: Path, gpu_name: str) -> pl.DataFrame | None:
    gpu, calib = get_gpu(gpu_name), load_calibration()
    t = Table(title=f"1. {folder.name}: per-op kernel time |error| on {gpu.name}, median / p90 (n ops)",
              title_justify="left")
    for c in ("trace set", "matmul", "attention", "memory-bound", "all"):
        t.add_column(c)
    sets = {"microbenchmarks": sorted(folder.glob("kernels_trace.json.gz")),
            "zoo training steps": sorted((folder / "steps").glob("*.json.gz"))}
    out = []
    for name, files in sets.items():
        ops = [read_trace_ops(f).ops for f in files]
        ops = [o for o in ops if o.height]
        if not ops:
            continue
        allops = pl.concat(ops, how="vertical_relaxed")
        tab = error_table(allops, predict_kernels(allops, gpu, calib))
        d = {r["group"]: _fmt(r) for r in tab.iter_rows(named=True)}
        t.add_row(name, *(d.get(g, "-") for g in ("matmul", "attention", "memory-bound", "all")))
        out.append(tab.with_columns(pl.lit(name).alias("set")))
    con.print(t)
    return pl.concat(out) if out else None


def sustained(folder: Path, gpu_name: str) -> float | None:
    p = folder / "sustained.json"
    if not p.exists():
        return None
    s = json.loads(p.read_text())
    model = load_calibration().by_family("power", "sustained_frac", get_gpu(gpu_name).family)
    con.print(f"2. {folder.name}: sustained GEMM ({s['gemm']}, {s['seconds']:.0f} s): {s['first_tflops']:.0f} -> "
              f"{s['last_tflops']:.0f} TFLOP/s, measured sustained/burst {s['sustained_over_burst']:.3f}; model "
              f"[power] sustained_frac {model}")
    clocks = [float(x["sm_MHz"]) for x in s.get("nvidia_smi", []) if str(x.get("sm_MHz", "")).replace(".", "").isdigit()]
    if clocks:
        con.print(f"   SM clock (nvidia-smi): first {clocks[0]:.0f} MHz, median {np.median(clocks):.0f}, last {clocks[-1]:.0f}")
    return float(s["sustained_over_burst"])


def steps(folder: Path, gpu_name: str) -> pl.DataFrame | None:
    p = folder / "steps.json"
    if not p.exists():
        return None
    rows = [r for r in json.loads(p.read_text())["rows"] if "median_step_s" in r]
    t = Table(title=f"3. {folder.name}: zoo training steps on {gpu_name} (bf16 eager, burst clocks)",
              title_justify="left")
    for c in ("workload", "flavor", "batch", "seq", "measured", "predicted", "error"):
        t.add_column(c)
    out = []
    for r in rows:
        try:
            est = predict_workload(r["workload"], gpu_name, ExecConfig(precision="bf16", sustained=False),
                                   flavor=r["flavor"], batch=r["batch"], seq=r["seq"], kernels="as-written")
        except (ValueError, KeyError) as e:
            con.print(f"   {r['workload']}: not predicted ({e})")
            continue
        err = est.step_time_s / r["median_step_s"] - 1
        out.append({"workload": r["workload"], "measured_s": r["median_step_s"], "predicted_s": est.step_time_s,
                    "err": err})
        t.add_row(r["workload"], r["flavor"], str(r["batch"]), str(r["seq"] or ""), f"{1e3 * r['median_step_s']:.1f} ms",
                  f"{1e3 * est.step_time_s:.1f} ms", f"{100 * err:+.1f}%")
    if out:
        e = np.abs([o["err"] for o in out])
        t.add_row("ALL", "", "", "", "", "", f"median {100 * np.median(e):.1f}% / p90 {100 * np.quantile(e, 0.9):.1f}%")
    con.print(t)
    return pl.DataFrame(out) if out else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--gpu", default=None, help="catalog GPU to predict on (default: the one meta.json names)")
    args = ap.parse_args(argv)
    folders = args.folders or sorted(p.parent for p in RESULTS.glob("*/meta.json"))
    if not folders:
        con.print(f"no GPU results under {RESULTS} yet: run benchmarks/gpu_measure.py on a GPU and commit its folder")
        return
    for folder in folders:
        if not (folder / "meta.json").is_file():
            con.print(f"{folder}: no meta.json here; expected a folder written by benchmarks/gpu_measure.py")
            continue
        meta = json.loads((folder / "meta.json").read_text())
        gpu = args.gpu or meta["gpu"]
        con.print(f"[bold]{folder.name}[/bold]: {meta['gpu']}, driver {meta.get('driver')}, torch {meta['torch']}, "
                  f"{meta['date']}; predicted on {get_gpu(gpu).name}")
        per_op(folder, gpu)
        sustained(folder, gpu)
        steps(folder, gpu)


if __name__ == "__main__":
    main()
