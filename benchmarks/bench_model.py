"""Accuracy and speed of the single-GPU model.

1. Per-op kernel time, predicted vs measured, on the real H100 and MI300X traces recorded with shapes
   (shared/data/traces/tracelens_h100, tracelens_mi300): with the packaged calibration (fitted on them), with
   the priors alone, and leave-one-trace-out (fit on two, test on the third).
2. Per-GPU throughput on the published single-node rows (shared/data/published): dense decoders, 1-8 GPUs,
   no tensor/pipeline/context parallelism (data parallel, ZeRO/FSDP inside one NVLink node, communication
   assumed overlapped). Per GPU: fwd+bwd of one micro-batch (+ a forward for full recompute) + the optimizer
   step / (gradient-accumulation steps x the ZeRO-3/FSDP shard count).
3. Zoo x every catalog GPU prediction time (captures excluded, done once).
4. Convolution kernels, predicted vs measured per op: the RTX 2080 Ti ResNet-18 training trace (param_2080ti,
   fp32, batch 128; recorded without shapes, so the conv shapes are torchvision resnet18's and the batch the
   input copy's bytes), the A100 AlexNet forward (critical_path/alexnet, TF32, batch 128 from its ReLU
   kernels' bytes) and the ViT patch embedding of the TraceLens H100/MI300X traces (recorded with shapes);
   the plain-GEMM conv model ([conv] passes = false) against the pass model; ResNet-18 and ResNet-50 steps.

Run: python benchmarks/bench_model.py [--skip-published] [--skip-zoo] [--skip-conv] [--max-rows N]
Error statistic everywhere: median and p90 of |predicted - measured| / measured.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from trainperf.data import PUBLISHED_CSV
from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig, load_calibration, op_times, predict_step
from trainperf.model.calibrate import error_table, fit, predict_kernels
from trainperf.model.calibration import Calibration
from trainperf.model.dp import dp_throughput
from trainperf.model.trace_ops import kernel_time_by_span, op_row, read_trace_ops
from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"  # the repository copy of shared/data/traces
CACHE = Path("/tmp/trainperf-bench-model")
con = Console(width=140)


def _stats(err: np.ndarray) -> str:
    return f"{100 * np.median(err):.1f}% / {100 * np.quantile(err, 0.9):.1f}%" if len(err) else "-"


def per_op() -> None:
    t = Table(title="1. per-op kernel time |error| on real traces: median / p90 (n ops)", title_justify="left")
    for c in ("set", "calibration", "matmul", "attention", "memory-bound", "all"):
        t.add_column(c)

    def row(name: str, calib_name: str, tab: pl.DataFrame) -> None:
        d = {r["group"]: f"{100 * r['median_abs_err']:.1f}% / {100 * r['p90_abs_err']:.1f}% ({r['n']})"
             for r in tab.iter_rows(named=True)}
        t.add_row(name, calib_name, *(d.get(g, "-") for g in ("matmul", "attention", "memory-bound", "all")))

    for folder in ("tracelens_h100", "tracelens_mi300"):
        traces = [read_trace_ops(f) for f in sorted((TRACES / folder).glob("*.json.gz"))]
        if not traces:
            continue
        gpu = get_gpu(traces[0].device)
        allops = pl.concat([x.ops for x in traces], how="vertical_relaxed")
        row(f"{gpu.name}, {len(traces)} traces", "packaged (fitted on these)",
            error_table(allops, predict_kernels(allops, gpu, load_calibration())))
        base = load_calibration()
        data = {**base.data, "fit": {}}
        prior = type(base)(data=data, path=base.path, sources=base.sources)
        row(f"{gpu.name}, {len(traces)} traces", "priors only (no fit)", error_table(allops, predict_kernels(allops, gpu, prior)))
        for i, held in enumerate(traces):
            res = fit([x for j, x in enumerate(traces) if j != i], prior)
            row(f"{gpu.name} held out: {Path(held.path).name[:24]}", "fit on the other two",
                error_table(held.ops, predict_kernels(held.ops, gpu, res.calibration)))
    con.print(t)


# ---------------------------------------------------------------- published single-node rows

def _num(r: dict[str, str], k: str) -> float | None:
    v = r.get(k, "")
    return float(v) if v not in ("", None) else None


# GPT-3 family shapes (Brown et al. 2020, arXiv 2005.14165, Table 2.1) for rows without arch columns.
GPT3 = {"GPT3-125M": (12, 768, 12), "GPT3-355M": (24, 1024, 16), "GPT3-760M": (24, 1536, 16),
        "GPT3-1.3B": (24, 2048, 16), "GPT3-2.7B": (32, 2560, 32)}


def _graph(r: dict[str, str], mb: int, seq: int, dtype: str) -> OpGraph:
    from trainperf.capture.api import capture_built
    from trainperf.workloads import Size
    from trainperf.workloads.zoo.llm import GPT2Arch, LlamaArch, gpt2_builder, llama_builder

    if not r["n_layers"] and r["model_name"] in GPT3:
        L_, h_, H_ = GPT3[r["model_name"]]
        r = {**r, "n_layers": str(L_), "hidden": str(h_), "n_heads": str(H_), "vocab": r["vocab"] or "50257"}
    L, h, ffn, H = int(r["n_layers"]), int(r["hidden"]), int(r["ffn_hidden"] or 4 * int(r["hidden"])), int(r["n_heads"])
    kv, V = int(r["n_kv_heads"] or H), int(r["vocab"])
    key = f"{r['model_name']}-{L}-{h}-{ffn}-{H}-{kv}-{V}-{seq}-{mb}-{dtype}".replace("/", "_")
    path = CACHE / f"{key}.parquet"
    if path.exists():
        return OpGraph.read_parquet(path)
    llama = bool(re.search(r"llama|qwen", r["model_name"], re.I))
    if llama:
        full = LlamaArch(vocab=V, hidden=h, ffn=ffn, layers=L, heads=H, kv_heads=kv, max_positions=max(seq, 8192))
        tiny = LlamaArch(vocab=512, hidden=128, ffn=256, layers=2, heads=8, kv_heads=2, head_dim=16)
        built = llama_builder(full, tiny)("full", Size(batch=mb, seq=seq), True)
    else:  # GPT-3 / MPT: LayerNorm, GELU MLP, learned positions (MPT's ALiBi costs the same)
        built = gpt2_builder(GPT2Arch(vocab=V, hidden=h, layers=L, heads=H, positions=seq),
                             GPT2Arch(vocab=512, hidden=128, layers=2, heads=8, positions=64))("full", Size(batch=mb, seq=seq), True)
        # NB: GPT2Config's default dropouts (0.1) make SDPA take its math path (bmm + softmax) instead of
        # flash attention, and its gelu_new runs as ~11 eager elementwise kernels; MPT and these GPT-3
        # benchmarks train without attention dropout and with a single-kernel GELU.
        make = built.make_model

        def no_dropout() -> Any:
            import torch

            m = make()
            for mod in m.modules():
                if hasattr(mod, "act") and hasattr(mod, "c_fc"):
                    mod.act = torch.nn.GELU(approximate="tanh")
                if hasattr(mod, "attn_dropout") and hasattr(mod.attn_dropout, "p"):
                    mod.attn_dropout.p = 0.0
                if hasattr(mod, "config"):
                    mod.config.attn_pdrop = 0.0
            return m

        built = replace(built, make_model=no_dropout)
    g = capture_built(built, name=key, flavor="full", dtype=dtype)
    CACHE.mkdir(parents=True, exist_ok=True)
    g.write_parquet(path)
    return g


def _mode(r: dict[str, str]) -> tuple[bool, str]:
    """(compile-like fused kernels, why) from the source's software stack."""
    src, notes = r["source"], r["notes"]
    if "torchtitan" in src:
        return "torch.compile" in notes, "torchtitan " + ("compile" if "torch.compile" in notes else "eager")
    if "llm-foundry" in src:
        return False, "llm-foundry eager (FSDP, flash-attn)"
    return True, "fused kernels (FlashAttention training scripts / Megatron TE)"


def published(max_rows: int | None) -> pl.DataFrame:
    with PUBLISHED_CSV.open() as fh:
        rows = [r for r in csv.DictReader(fh)
                if r["arch"] == "dense_decoder" and r["n_gpus"] and int(r["n_gpus"]) <= 8
                and r["tp"] in ("", "1") and r["pp"] in ("", "1") and r["cp"] in ("", "1")
                # the FlashAttention-2 paper's rows with older attention kernels are not what we model
                and (not r["id"].startswith("flashattn2-") or "impl=FlashAttention-2" in r["notes"])
                and "LoRA" not in r["notes"] and "SFT" not in r["notes"]]
    if max_rows:
        rows = rows[:max_rows]
    out = []
    t0 = time.perf_counter()
    for r in rows:
        prec = {"bf16": "bf16", "": "bf16", "fp8": "fp8", "fp8_cs": "fp8", "mxfp8": "fp8"}.get(r["precision"])
        if prec is None:
            continue
        seq = int(r["seq_len"])
        mb = int(r["micro_batch"]) if r["micro_batch"] else (8 if seq <= 2048 else 2)  # FA2 rows: not stated
        n = int(r["n_gpus"])
        dp = int(r["dp"]) if r["dp"] else n
        gb = _num(r, "global_batch_seqs")
        m = re.search(r"grad_accum=(\d+)", r["notes"])
        accum = int(m.group(1)) if m else max(1, round(gb / (mb * dp))) if gb else 1
        shard = dp if re.search(r"fsdp|zero3|zero-3", r["zero_or_fsdp"], re.I) else 1
        compile_, why = _mode(r)
        # Megatron / NeMo (Transformer Engine) run cuDNN fused attention; the other stacks flash-attn 2 / SDPA flash
        te = re.search(r"megatron|nemo", r["source"], re.I) is not None
        cfg = ExecConfig(precision=prec, compile=compile_, attention="cudnn" if te else "flash2")
        try:
            g = _graph(r, mb, seq, cfg.capture_dtype)
            est = predict_step(g, get_gpu(r["gpu_type"]), cfg)
        except (ValueError, KeyError) as e:
            con.print(f"skip {r['id']}: {e}")
            continue
        dp_ = dp_throughput(est, grad_accum=accum, optimizer_shards=shard,
                            recompute=r["recompute"] if r["recompute"] in ("full", "selective") else "none")
        pred_tps, pred_tf = dp_.units_per_s, dp_.model_tflops
        meas_tps = _num(r, "measured_tokens_per_s_per_gpu")
        meas_tf = _num(r, "measured_tflops_per_gpu")
        if meas_tps:
            err, meas, pred, unit = pred_tps / meas_tps - 1, meas_tps, pred_tps, "tok/s/GPU"
        elif meas_tf:
            err, meas, pred, unit = pred_tf / meas_tf - 1, meas_tf, pred_tf, "TFLOP/s/GPU"
        else:
            continue
        out.append({"id": r["id"], "model": r["model_name"], "gpu": est.gpu, "prec": prec, "seq": seq, "mb": mb,
                    "recompute": r["recompute"], "mode": why, "unit": unit, "measured": meas, "predicted": pred,
                    "err": err, "source": r["id"].rsplit("-", 1)[0]})
    df = pl.DataFrame(out)
    t = Table(title=f"2. published single-node rows: per-GPU throughput ({df.height} rows, "
                    f"{time.perf_counter() - t0:.0f} s incl. captures)", title_justify="left")
    for c in ("source", "gpu", "prec", "n", "median |err|", "p90 |err|", "median signed"):
        t.add_column(c)
    for key, sub in df.group_by(["source", "gpu", "prec"], maintain_order=True):
        e = sub["err"].to_numpy()
        t.add_row(*map(str, key), str(sub.height), f"{100 * np.median(np.abs(e)):.1f}%",
                  f"{100 * np.quantile(np.abs(e), 0.9):.1f}%", f"{100 * np.median(e):+.1f}%")
    e = df["err"].to_numpy()
    t.add_row("ALL", "", "", str(df.height), f"{100 * np.median(np.abs(e)):.1f}%", f"{100 * np.quantile(np.abs(e), 0.9):.1f}%",
              f"{100 * np.median(e):+.1f}%")
    con.print(t)
    worst = df.with_columns(pl.col("err").abs().alias("abs")).sort("abs", descending=True).head(8)
    w = Table(title="worst rows", title_justify="left")
    for c in ("id", "model", "gpu", "prec", "seq", "mb", "recompute", "unit", "measured", "predicted", "err"):
        w.add_column(c)
    for r in worst.iter_rows(named=True):
        w.add_row(r["id"], r["model"], r["gpu"], r["prec"], str(r["seq"]), str(r["mb"]), r["recompute"], r["unit"],
                  f"{r['measured']:.0f}", f"{r['predicted']:.0f}", f"{100 * r['err']:+.1f}%")
    con.print(w)
    return df


# ---------------------------------------------------------------- zoo x GPUs speed

def zoo_speed() -> None:
    from trainperf.capture import capture_workload
    from trainperf.hardware import list_gpus
    from trainperf.workloads import list_workloads

    gpus = list_gpus()  # the whole catalog, as the target says
    graphs: dict[str, OpGraph] = {}
    t0 = time.perf_counter()
    for w in list_workloads():
        try:
            graphs[w.name] = capture_workload(w.name, "full")
        except Exception as e:  # report and go on: capture is not what this benchmark measures
            con.print(f"capture {w.name} failed: {type(e).__name__}: {str(e)[:100]}")
    cap = time.perf_counter() - t0
    t = Table(title=f"3. zoo x {len(gpus)} catalog GPUs prediction time ({len(graphs)} workloads captured in {cap:.0f} s)",
              title_justify="left")
    for c in ("workload", "ops", "ms / prediction (mean of GPUs)", "H100 step", "H100 MFU", "uncovered ops", "warning"):
        t.add_column(c)
    total, n = 0.0, 0
    for name, g in graphs.items():
        per = []
        for spec in gpus:
            prec = "bf16" if spec.has_precision("bf16") else "fp16"  # V100, RTX 2080 Ti: fp16 tensor cores
            t1 = time.perf_counter()
            e = predict_step(g, spec, ExecConfig(precision=prec))
            per.append(time.perf_counter() - t1)
            if spec.name == "H100-SXM":
                h = e
        total += sum(per)
        n += len(per)
        t.add_row(name, str(g.ops.height), f"{1e3 * np.mean(per):.1f}", f"{1e3 * h.step_time_s:.1f} ms",
                  f"{100 * h.mfu:.1f}%", f"{h.uncovered_ops} ({100 * h.uncovered_share_ops:.2f}%)",
                  "model FLOPs != captured" if h.warnings else "")
    con.print(t)
    con.print(f"zoo x {len(gpus)} GPUs: {n} predictions in {total:.2f} s ({1e3 * total / max(n, 1):.1f} ms each); "
              f"target <= 30 s for the zoo x all catalog GPUs")


# ---------------------------------------------------------------- convolutions on real traces

# torchvision resnet18 / alexnet convs in forward order: (c_in, c_out, kernel, stride, padding, input size)
RESNET18 = [(3, 64, 7, 2, 3, 224), *[(64, 64, 3, 1, 1, 56)] * 4,
            *[c for cin, co, hw in ((64, 128, 56), (128, 256, 28), (256, 512, 14))
              for c in ((cin, co, 3, 2, 1, hw), (co, co, 3, 1, 1, hw // 2), (cin, co, 1, 2, 0, hw),
                        (co, co, 3, 1, 1, hw // 2), (co, co, 3, 1, 1, hw // 2))]]
ALEXNET = [(3, 64, 11, 4, 2, 224), (64, 192, 5, 1, 2, 27), (192, 384, 3, 1, 1, 13), (384, 256, 3, 1, 1, 13),
           (256, 256, 3, 1, 1, 13)]
_FWD, _BWD = "aten::cudnn_convolution", "aten::convolution_backward"


def conv_rows(layers: list[tuple[int, ...]], batch: int, measured: dict[tuple[str, int], float],
              backward: bool) -> pl.DataFrame:
    """OpGraph rows (cost registry) of a network's convs, fp32, with the measured kernel time of each."""
    from trainperf.costs.types import OpCall, TensorMeta

    out = []
    for i, (cin, cout, k, s, p, hw) in enumerate(layers):
        ho = (hw + 2 * p - k) // s + 1
        x, w = TensorMeta((batch, cin, hw, hw), "float32"), TensorMeta((cout, cin, k, k), "float32")
        calls = [(OpCall(_FWD, (x, w, (p, p), (s, s), (1, 1), 1, False, False, True)), "fwd")]
        if backward:  # the first layer's input needs no gradient
            go = TensorMeta((batch, cout, ho, ho), "float32")
            calls.append((OpCall(_BWD, (go, x, w, (0,), (s, s), (p, p), (1, 1), False, (0, 0), 1, (i > 0, True, False))), "bwd"))
        for call, phase in calls:
            r = op_row(call)
            assert r is not None
            r.update(phase=phase, layer=i, measured_s=measured[(call.op, i)])
            out.append(r)
    return pl.DataFrame(out, schema={**OPGRAPH_SCHEMA, "measured_s": pl.Float64}, strict=False)


def traced_convs(path: Path, n_layers: int, skip_first: int) -> dict[tuple[str, int], float]:
    """Median kernel time per (op, layer) of a trace without shapes: forward convs in network order, backward
    in reverse, each step's ops numbered by their position (the first `skip_first` steps left out)."""
    from trainperf.trace import load_trace

    d = kernel_time_by_span(load_trace(path).events, (_FWD, _BWD))
    out: dict[tuple[str, int], float] = {}
    for name in (_FWD, _BWD):
        x = d.filter(pl.col("name") == name).with_row_index("i")
        x = x.with_columns(step=pl.col("i") // n_layers,
                           layer=pl.col("i") % n_layers if name == _FWD else n_layers - 1 - pl.col("i") % n_layers)
        for r in (x.filter(pl.col("step") >= skip_first).group_by("layer").agg(pl.col("kernel_s").median())
                  .iter_rows(named=True)):
            out[(name, r["layer"])] = r["kernel_s"]
    return out


def _conv_calib(gpu: Any, **conv: Any) -> Calibration:
    base = load_calibration().for_gpu(gpu.family, gpu.vendor)
    return Calibration(data={**base.data, "conv": {**base.data.get("conv", {}), **conv}}, path=base.path,
                       sources=base.sources)


def _conv_cfg(precision: str, **conv: Any) -> ExecConfig:
    """ExecConfig whose calibration file is the packaged one plus a [conv] section with these overrides."""
    def val(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return str(v).lower() if isinstance(v, bool) else repr(v)

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"calibration-conv-{abs(hash(repr(sorted(conv.items()))))}.toml"
    base = load_calibration()
    path.write_text(Path(base.path).read_text() + "\n[conv]\n" + "".join(f"{k} = {val(v)}\n" for k, v in conv.items()))
    return ExecConfig(precision=precision, sustained=False, calibration=str(path))


# the pass model with its structure only: SIMT rate 0.89 of peak everywhere, Winograd at the tile expansion's
# 5.5x bytes, no fitted gradient-pass rates
UNFITTED = {"simt_frac": {"default": 0.89}, "winograd_frac": 1.0, "winograd_bytes": 5.5, "strided_dgrad_frac": 1.0,
            "simt_wgrad_frac": 1.0}


def conv_accuracy() -> None:
    traces = TRACES
    sets = []
    r18 = traces / "param_2080ti/resnet_kineto.json.gz"
    if r18.exists():
        sets.append(("RTX 2080 Ti ResNet-18 fp32 b128", "RTX-2080-Ti", "fp32",
                     conv_rows(RESNET18, 128, traced_convs(r18, len(RESNET18), 1), backward=True)))
    alex = next(iter(sorted((traces / "critical_path/alexnet").glob("*.json.gz"))), None)
    if alex is not None:
        sets.append(("A100 AlexNet forward fp32 (TF32) b128", "A100-SXM-40GB", "fp32",
                     conv_rows(ALEXNET, 128, traced_convs(alex, len(ALEXNET), 0), backward=False)))
    for folder, gname in (("tracelens_h100", "H100-SXM"), ("tracelens_mi300", "MI300X")):
        f = traces / folder / "Falconsai_nsfw_image_detection__1016002.json.gz"
        if f.exists():
            ops = read_trace_ops(f).ops.filter(pl.col("category") == "conv")
            sets.append((f"{gname} ViT patch embedding bf16 b4", gname, "bf16", ops))
    t = Table(title="4. conv kernels per op |error|: median / p90 (n ops); predicted / measured sum", title_justify="left")
    for c in ("set", "plain GEMM (before)", "pass model, unfitted", "pass model (packaged)"):
        t.add_column(c)
    for name, gname, prec, ops in sets:
        gpu = get_gpu(gname)
        meas = ops["measured_s"].to_numpy()
        cells = []
        for conv in ({"passes": False, "tf32_default": False}, UNFITTED, {}):
            pred = op_times(ops, gpu, ExecConfig(precision=prec, sustained=False), _conv_calib(gpu, **conv))["kernel_s"].to_numpy()
            err = np.abs(pred - meas) / meas
            cells.append(f"{_stats(err)} ({len(err)}); {pred.sum() / meas.sum():.2f}x")
        t.add_row(name, *cells)
    con.print(t)
    steps()


def _resnet18() -> OpGraph:
    from trainperf.capture.api import capture_built
    from trainperf.workloads import Size
    from trainperf.workloads.zoo.cnn import CnnSpec, cnn_builder, sgd_momentum

    path = CACHE / "resnet18-b128-fp32.parquet"
    if path.exists():
        return OpGraph.read_parquet(path)

    def make(flavor: str, img: int, classes: int) -> Any:
        from transformers import ResNetConfig, ResNetForImageClassification

        return ResNetForImageClassification(ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2], embedding_size=64,
                                                         hidden_sizes=[64, 128, 256, 512], num_labels=classes))

    # torchvision resnet18: 1.82 GMACs at 224 (torchvision model docs)
    built = cnn_builder(CnnSpec(make=make, gmacs=1.82, ref_image=224, optimizer=sgd_momentum), "resnet18")(
        "full", Size(batch=128, image_size=224), False)
    g = capture_built(built, name="resnet18", flavor="full", dtype="float32")
    CACHE.mkdir(parents=True, exist_ok=True)
    g.write_parquet(path)
    return g


def steps() -> None:
    """ResNet-18 on the 2080 Ti against the trace's kernel time per step; ResNet-50 on data-center GPUs."""
    from trainperf.capture import capture_workload
    from trainperf.trace import load_trace
    from trainperf.workloads import Size

    t = Table(title="conv-heavy steps, eager, burst clocks: predicted step (conv part), plain GEMM -> pass model",
              title_justify="left")
    for c in ("workload", "GPU", "plain GEMM", "pass model", "reference"):
        t.add_column(c)
    r18 = TRACES / "param_2080ti/resnet_kineto.json.gz"
    if r18.exists():
        ev = load_trace(r18).events
        # kernel time per step: GPU events launched between two Optimizer.zero_grad annotations (data-loader
        # copies excluded), median over the 28 complete steps after the first
        marks = ev.filter(pl.col("name").str.starts_with("Optimizer.zero_grad")).sort("ts")["ts"].to_numpy()
        k = (ev.filter(pl.col("gpu") & (pl.col("cat") == "kernel"))
             .join(ev.select(launch_idx="idx", lt="ts"), on="launch_idx", how="left"))
        step = np.searchsorted(marks, k["lt"].fill_null(k["ts"]).to_numpy(), side="right")
        per = k.with_columns(step=pl.Series(step)).group_by("step").agg(s=pl.col("dur").sum() / 1e9)
        meas = float(per.filter((pl.col("step") >= 2) & (pl.col("step") < len(marks)))["s"].median())
        gpu = get_gpu("RTX-2080-Ti")
        g = _resnet18()
        e = [predict_step(g, gpu, _conv_cfg("fp32", **c)) for c in ({"passes": False}, {})]
        t.add_row("resnet18 b128 fp32", gpu.name, *(_step(x) for x in e), f"trace: {1e3 * meas:.1f} ms of kernels per step")
    g50 = capture_workload("resnet50", "full", Size(batch=256, image_size=224), "bfloat16")
    for gname in ("A100-SXM-80GB", "H100-SXM", "MI300X"):
        gpu = get_gpu(gname)
        e = [predict_step(g50, gpu, _conv_cfg("bf16", **c)) for c in ({"passes": False, "tf32_default": False}, {})]
        t.add_row("resnet50 b256 bf16 NCHW", gname, *(_step(x) for x in e), "none in shared data")
    con.print(t)


def _step(e: Any) -> str:
    conv = e.categories.filter(pl.col("category") == "conv")["time_s"].sum()
    return f"{1e3 * e.step_time_s:.1f} ms ({1e3 * conv:.1f})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--skip-published", action="store_true")
    ap.add_argument("--skip-zoo", action="store_true")
    ap.add_argument("--skip-conv", action="store_true")
    ap.add_argument("--max-rows", type=int, default=None)
    a = ap.parse_args(argv)
    per_op()
    if not a.skip_published:
        published(a.max_rows)
    if not a.skip_conv:
        conv_accuracy()
    if not a.skip_zoo:
        zoo_speed()


if __name__ == "__main__":
    main()
