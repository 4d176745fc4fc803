"""Measure a GPU for trainperf's model: the one prepared script to run when a GPU is lent (torch + stdlib).

What it measures, each section within a share of ``--budget-s`` (it stops a section early rather than
overrun the lease):
  kernels    GEMMs (bf16/fp16, fp32 with and without TF32, fp8 via ``torch._scaled_mm``), ResNet-50 convs,
             flash attention forward / backward, memory-bound ops (copy, add, broadcast mul, GELU, LayerNorm,
             RMSNorm, softmax, cross-entropy, fused AdamW): median of CUDA-event timed reps on random data,
             with FLOPs and bytes counted here, and a Kineto trace of one rep of each (shapes recorded) that
             ``trainperf calibrate`` and benchmarks/bench_gpu_results.py read.
  sustained  one large bf16 GEMM run back to back for ``--sustained-s``: achieved TFLOP/s per window with the
             SM clock, power and temperature nvidia-smi reports; last window / first window is the measured
             counterpart of the model's [power] sustained_frac (docs/model.md).
  steps      real training steps of zoo workloads (``trainperf.profile``): median step time and a trace each.
Writes ``OUT/<gpu>_<date>/``: meta.json, kernels.json, kernels_trace.json.gz, sustained.json, steps.json,
steps/<workload>.json.gz. Commit that folder under benchmarks/results/ (it names GPU, driver, torch, date).

Device (no polars there; the trainperf imports used here need torch only):
  PYTHONPATH=src python3 benchmarks/gpu_measure.py --out "$OUT" --budget-s 480
CPU smoke run (what tests/unit/test_gpu_measure.py does): --device cpu --quick
METHOD (device tool): random inputs, warm-up, event timing, median of reps, clocks and power left as found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Zoo training steps (name, flavor, batch, seq or image side): full size where one GPU holds weights, grads
# and AdamW state comfortably; quick runs take the first, tiny.
STEPS = [("gpt2-124m", "full", 8, 1024), ("llama3.2-1b", "full", 4, 2048), ("bert-large", "full", 32, 512),
         ("vit-b16", "full", 128, None), ("resnet50", "full", 128, None), ("t5-large", "full", 8, 512),
         ("dit-xl2", "full", 32, None), ("qwen3-30b-a3b", "tiny", 8, 1024), ("whisper-large-v3", "full", 8, None),
         ("mobilenetv2", "full", 128, None)]


def _nvsmi(fields: str) -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        return [x.strip() for x in out.splitlines()[0].split(",")] if out.strip() else []
    except (OSError, subprocess.SubprocessError, IndexError):
        return []


def meta(device: torch.device) -> dict[str, Any]:
    m: dict[str, Any] = {"date": dt.date.today().isoformat(), "torch": torch.__version__,
                         "cuda": torch.version.cuda, "device": str(device), "python": sys.version.split()[0]}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        m.update(gpu=p.name, sm_count=p.multi_processor_count, memory_GiB=round(p.total_memory / 2**30, 1),
                 capability=f"{p.major}.{p.minor}")
        vals = _nvsmi("driver_version,clocks.max.sm,power.limit,clocks.sm,temperature.gpu")
        keys = ("driver", "max_sm_clock_MHz", "power_limit_W", "idle_sm_clock_MHz", "idle_temp_C")
        m.update(dict(zip(keys, vals, strict=False)))
    else:
        m.update(gpu="cpu", driver=None)
    return m


class Timer:
    """Median of ``reps`` timed calls after ``warmup`` (CUDA events on a GPU, wall clock on the CPU)."""

    def __init__(self, device: torch.device, reps: int, warmup: int) -> None:
        self.device, self.reps, self.warmup = device, reps, warmup

    def __call__(self, fn: Callable[[], Any]) -> list[float]:
        for _ in range(self.warmup):
            fn()
        self.sync()
        times = []
        for _ in range(self.reps):
            if self.device.type == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b) * 1e-3)
            else:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return times

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _rand(*shape: int, dtype: torch.dtype, device: torch.device, grad: bool = False) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, device=device).requires_grad_(grad)


def kernel_cases(device: torch.device, quick: bool) -> list[tuple[str, dict[str, Any], Callable[[], Any], float, float]]:
    """(name, params, fn, flops, bytes) per microbenchmark; tensors are built lazily inside each case's
    factory so that only one case's inputs are alive at a time."""
    s = 64 if quick else 1  # quick: CPU smoke runs, also on CPUs without AVX2 (slow bf16 matmuls)
    bf, cases = torch.bfloat16, []

    def gemm(m: int, n: int, k: int, dtype: torch.dtype, tf32: bool | None = None) -> None:
        m, n, k = max(m // s, 16), max(n // s, 16), max(k // s, 16)

        def make() -> Callable[[], Any]:
            a, b = _rand(m, k, dtype=dtype, device=device), _rand(k, n, dtype=dtype, device=device)
            if tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = tf32
            return lambda: a @ b

        nb = (m * k + k * n + m * n) * torch.finfo(dtype).bits / 8
        name = f"mm_{str(dtype).split('.')[-1]}" + ("" if tf32 is None else ("_tf32" if tf32 else "_ieee"))
        cases.append((name, {"m": m, "n": n, "k": k}, make, 2.0 * m * n * k, nb))

    for mnk in [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (16384, 16384, 16384)]:
        gemm(*mnk, bf)
    # LLM training shapes: tokens x (out, in) of Llama-3 8B / 70B linears and the LM head
    for t in (2048, 8192, 16384):
        for n, k in ((4096, 4096), (6144, 4096), (28672, 4096), (4096, 14336), (8192, 8192), (128256, 4096)):
            if not (quick and t > 2048):
                gemm(t, n, k, bf)
    gemm(8192, 8192, 8192, torch.float16)
    gemm(4096, 4096, 4096, torch.float32, tf32=True)
    gemm(4096, 4096, 4096, torch.float32, tf32=False)
    if device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9) and hasattr(torch, "_scaled_mm"):
        for m, n, k in ((8192, 8192, 8192), (16384, 28672, 4096), (16384, 4096, 14336)):
            def make8(m: int = m, n: int = n, k: int = k) -> Callable[[], Any]:
                a = _rand(m, k, dtype=bf, device=device).to(torch.float8_e4m3fn)
                b = _rand(n, k, dtype=bf, device=device).to(torch.float8_e4m3fn)
                one = torch.ones((), device=device)
                return lambda: torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=bf)
            cases.append(("mm_fp8", {"m": m, "n": n, "k": k}, make8, 2.0 * m * n * k, (m * k + n * k) + 2.0 * m * n))

    # ResNet-50 convolutions (batch 64, channels-last bf16): forward, and forward + backward
    conv_shapes = [(3, 224, 64, 7, 2), (64, 56, 64, 1, 1), (64, 56, 64, 3, 1), (64, 56, 256, 1, 1),
                   (256, 56, 128, 1, 1), (128, 28, 128, 3, 1), (512, 7, 512, 3, 1), (1024, 14, 256, 1, 1)]
    nb_img = 4 if quick else 64
    for cin, hw, cout, ks, st in conv_shapes:
        hw_ = max(hw // (4 if quick else 1), ks)
        for bwd in (False, True):
            def makec(cin: int = cin, hw_: int = hw_, cout: int = cout, ks: int = ks, st: int = st,
                      bwd: bool = bwd) -> Callable[[], Any]:
                x = _rand(nb_img, cin, hw_, hw_, dtype=bf, device=device, grad=bwd).to(memory_format=torch.channels_last)
                w = _rand(cout, cin, ks, ks, dtype=bf, device=device, grad=bwd).to(memory_format=torch.channels_last)
                if not bwd:
                    return lambda: F.conv2d(x, w, stride=st, padding=ks // 2)
                y = F.conv2d(x, w, stride=st, padding=ks // 2)
                g = torch.randn_like(y)
                return lambda: torch.autograd.grad(F.conv2d(x, w, stride=st, padding=ks // 2), (x, w), g)
            ho = (hw_ + 2 * (ks // 2) - ks) // st + 1
            fl = 2.0 * nb_img * ho * ho * cout * cin * ks * ks * (3 if bwd else 1)
            nb = 2.0 * (nb_img * cin * hw_ * hw_ + cout * cin * ks * ks + nb_img * cout * ho * ho) * (3 if bwd else 1)
            cases.append(("conv2d" + ("_fwdbwd" if bwd else ""), {"n": nb_img, "cin": cin, "hw": hw_, "cout": cout,
                                                                  "k": ks, "stride": st}, makec, fl, nb))

    # Flash attention (B, H, S, D), causal or not: forward, and forward + backward
    att = [(4, 32, 2048, 128), (2, 32, 4096, 128), (1, 32, 8192, 128), (1, 32, 16384, 128), (8, 16, 1024, 64),
           (16, 12, 512, 64), (4, 64, 4096, 64)]
    for b_, h, sq, d in (att[:2] if quick else att):
        sq_ = max(sq // s, 64)
        for causal in (True, False):
            for bwd in (False, True):
                def makea(b_: int = b_, h: int = h, sq_: int = sq_, d: int = d, causal: bool = causal,
                          bwd: bool = bwd) -> Callable[[], Any]:
                    q, k, v = (_rand(b_, h, sq_, d, dtype=bf, device=device, grad=bwd) for _ in range(3))
                    if not bwd:
                        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    g = torch.randn_like(q)
                    return lambda: torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                                                       (q, k, v), g)
                fl = 4.0 * b_ * h * sq_ * sq_ * d * (3 if bwd else 1)  # full-mask convention (docs/glossary.md)
                cases.append(("sdpa" + ("_fwdbwd" if bwd else ""), {"b": b_, "h": h, "s": sq_, "d": d,
                                                                    "causal": causal}, makea, fl, 0.0))

    # Memory-bound ops on 2^28 bf16 elements (512 MiB per tensor)
    n = 2 ** (20 if quick else 28)
    rows, cols = n // 4096, 4096

    def mem(name: str, make: Callable[[], Callable[[], Any]], nbytes: float, flops: float = 0.0) -> None:
        cases.append((name, {"numel": n}, make, flops, nbytes))

    def _x() -> torch.Tensor:
        return _rand(rows, cols, dtype=bf, device=device)
    mem("copy", lambda: (lambda x: lambda: x.clone())(_x()), 4.0 * n)
    mem("add", lambda: (lambda x, y: lambda: x + y)(_x(), _x()), 6.0 * n, n)
    mem("mul_broadcast", lambda: (lambda x, y: lambda: x * y)(_x(), _rand(cols, dtype=bf, device=device)), 4.0 * n, n)
    mem("gelu", lambda: (lambda x: lambda: F.gelu(x, approximate="tanh"))(_x()), 4.0 * n, 8.0 * n)
    mem("layer_norm", lambda: (lambda x, w: lambda: F.layer_norm(x, (cols,), w, w))(_x(), _rand(cols, dtype=bf, device=device)),
        4.0 * n, 8.0 * n)
    if hasattr(F, "rms_norm"):
        mem("rms_norm", lambda: (lambda x, w: lambda: F.rms_norm(x, (cols,), w))(_x(), _rand(cols, dtype=bf, device=device)),
            4.0 * n, 4.0 * n)
    mem("softmax", lambda: (lambda x: lambda: torch.softmax(x, -1))(_x()), 4.0 * n, 5.0 * n)
    vocab = 128256 if not quick else 4096
    tok = max(n // vocab, 8)

    def make_ce() -> Callable[[], Any]:
        logits = _rand(tok, vocab, dtype=bf, device=device)
        tgt = torch.randint(0, vocab, (tok,), device=device)
        return lambda: F.cross_entropy(logits.float(), tgt)
    cases.append(("cross_entropy_fp32", {"tokens": tok, "vocab": vocab}, make_ce, 5.0 * tok * vocab, 14.0 * tok * vocab))
    n_p = 2 ** (16 if quick else 26)

    def make_adam() -> Callable[[], Any]:
        ps = [torch.randn(n_p, device=device, requires_grad=True) for _ in range(4)]
        for p in ps:
            p.grad = torch.randn_like(p)
        opt = torch.optim.AdamW(ps, lr=1e-4, fused=device.type == "cuda", foreach=None if device.type == "cuda" else True)
        return lambda: opt.step()
    cases.append(("adamw_fused_fp32", {"params": 4 * n_p}, make_adam, 0.0, 4 * n_p * 28.0))
    return cases


def run_kernels(device: torch.device, out: Path, quick: bool, budget_s: float) -> list[dict[str, Any]]:
    timer = Timer(device, reps=3 if quick else 20, warmup=1 if quick else 5)
    t_end = time.perf_counter() + budget_s
    rows: list[dict[str, Any]] = []
    cases = kernel_cases(device, quick)
    timed = []
    for name, params, make, flops, nbytes in cases:
        if time.perf_counter() > t_end:
            rows.append({"op": name, **params, "skipped": "budget"})
            continue
        try:
            fn = make()
            ts = timer(fn)
        except (RuntimeError, NotImplementedError, ValueError) as e:  # OOM, unsupported dtype on this part
            rows.append({"op": name, **params, "error": f"{type(e).__name__}: {str(e)[:160]}"})
            continue
        finally:
            fn = None  # one case's tensors alive at a time
        med = statistics.median(ts)
        rows.append({"op": name, **params, "median_s": med, "min_s": min(ts), "reps": len(ts), "flops": flops,
                     "bytes": nbytes, "tflops": flops / med / 1e12 if flops else None,
                     "GBps": nbytes / med / 1e9 if nbytes else None})
        timed.append((name, make))
    # One more rep of every timed case under the profiler (shapes recorded) for the per-op comparison;
    # inputs are made again inside it, one case at a time.
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    trace = out / "kernels_trace.json"
    try:
        with torch.profiler.profile(activities=acts, record_shapes=True) as prof:
            for name, make in timed:
                fn = make()
                timer.sync()
                with torch.profiler.record_function(f"bench:{name}"):
                    fn()
                timer.sync()
                fn = None
        prof.export_chrome_trace(str(trace))
        _gzip(trace)
    except (RuntimeError, OSError) as e:
        print(f"kernel trace not written: {e}", file=sys.stderr)
    torch.backends.cuda.matmul.allow_tf32 = False
    return rows


def run_sustained(device: torch.device, seconds: float, quick: bool) -> dict[str, Any]:
    """Back-to-back bf16 GEMMs for ``seconds``; achieved rate per window and nvidia-smi samples."""
    n = 1024 if quick else 8192
    a, b = _rand(n, n, dtype=torch.bfloat16, device=device), _rand(n, n, dtype=torch.bfloat16, device=device)
    timer = Timer(device, reps=1, warmup=2)
    flop = 2.0 * n**3
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            v = _nvsmi("clocks.sm,power.draw,temperature.gpu")
            if v:
                samples.append({"t": time.perf_counter(), "sm_MHz": v[0], "power_W": v[1], "temp_C": v[2]})
            stop.wait(1.0)

    th = threading.Thread(target=sample, daemon=True)
    if device.type == "cuda":
        th.start()
    t0 = time.perf_counter()
    windows = []
    per_window = 10 if quick else 200
    while time.perf_counter() - t0 < seconds:
        t = sum(timer(lambda: [a @ b for _ in range(per_window)]))
        windows.append({"t_s": round(time.perf_counter() - t0, 2), "tflops": per_window * flop / t / 1e12})
    stop.set()
    rates = [w["tflops"] for w in windows]
    first, last = rates[0], statistics.median(rates[-max(1, len(rates) // 5):])
    return {"gemm": f"{n}x{n}x{n} bf16", "seconds": seconds, "windows": windows, "nvidia_smi": samples,
            "first_tflops": first, "last_tflops": last, "sustained_over_burst": last / first}


def run_steps(device: torch.device, out: Path, quick: bool, budget_s: float) -> list[dict[str, Any]]:
    from trainperf.profile.run import ProfileConfig, profile_workload
    from trainperf.workloads import Size, get_workload

    t_end = time.perf_counter() + budget_s
    rows: list[dict[str, Any]] = []
    plan = [(STEPS[0][0], "tiny", 2, 64, None)] if quick else [(w, f, b, s, None) for w, f, b, s in STEPS]
    for name, flavor, batch, seq, _ in plan:
        if time.perf_counter() > t_end:
            rows.append({"workload": name, "skipped": "budget"})
            continue
        w = get_workload(name)
        size = Size(batch=batch, seq=seq) if seq and w.domain.value in ("llm", "moe", "encoder", "encdec") else Size(batch=batch)
        cfg = ProfileConfig(device=str(device), dtype="bf16", warmup=1 if quick else 3, steps=2 if quick else 5)
        trace = out / "steps" / f"{name}.json"
        try:
            r = profile_workload(name, flavor, size, cfg, trace_path=trace)
        except Exception as e:  # a workload that cannot build or run here is a row, not a lost run
            rows.append({"workload": name, "flavor": flavor, "error": f"{type(e).__name__}: {str(e)[:200]}"})
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        _gzip(trace)
        rows.append({"workload": name, "flavor": flavor, "batch": batch, "seq": seq, "dtype": "bf16",
                     "step_times_s": r.step_times_s, "median_step_s": r.median_step_s, "units_per_step": r.tokens_per_step,
                     "unit": r.unit, "throughput": r.throughput,
                     "peak_mem_GiB": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None})
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
    return rows


def _gzip(p: Path) -> None:
    if p.exists():
        with p.open("rb") as src, gzip.open(p.with_suffix(".json.gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        p.unlink()


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s).strip("-").replace("--", "-")


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True, help="folder to write OUT/<gpu>_<date>/ into")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke run)")
    ap.add_argument("--quick", action="store_true", help="small shapes, few reps (smoke test)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall-time budget for all sections")
    ap.add_argument("--sustained-s", type=float, default=90.0, help="length of the sustained-GEMM run")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: kernels,sustained,steps")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; use --device cpu --quick for a smoke run")
    torch.manual_seed(0)
    m = meta(device)
    folder = args.out / f"{_slug(m['gpu'])}_{m['date']}"
    folder.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    budget = args.budget_s
    (folder / "meta.json").write_text(json.dumps(m, indent=1))
    summary = []
    if "kernels" not in skip:
        rows = run_kernels(device, folder, args.quick, 0.40 * budget)
        (folder / "kernels.json").write_text(json.dumps({"meta": m, "rows": rows}, indent=1))
        ok = [r for r in rows if "median_s" in r]
        summary.append(f"kernels: {len(ok)}/{len(rows)} timed")
        for op in ("mm_bfloat16", "mm_fp8", "copy", "sdpa_fwdbwd"):
            best = max((r.get("tflops") or r.get("GBps") or 0.0 for r in ok if r["op"] == op), default=0.0)
            if best:
                summary.append(f"  best {op}: {best:.1f} {'GB/s' if op == 'copy' else 'TFLOP/s'}")
    if "sustained" not in skip:
        left = max(1.0, budget - (time.perf_counter() - t0))
        s = run_sustained(device, min(args.sustained_s, 0.35 * left) if not args.quick else 0.5, args.quick)
        (folder / "sustained.json").write_text(json.dumps({"meta": m, **s}, indent=1))
        summary.append(f"sustained: {s['first_tflops']:.1f} -> {s['last_tflops']:.1f} TFLOP/s "
                       f"(x{s['sustained_over_burst']:.3f}) over {s['seconds']:.0f} s")
    if "steps" not in skip:
        left = max(1.0, budget - (time.perf_counter() - t0))
        rows = run_steps(device, folder, args.quick, left)
        (folder / "steps.json").write_text(json.dumps({"meta": m, "rows": rows}, indent=1))
        for r in rows:
            what = (f"{1e3 * r['median_step_s']:.1f} ms/step" if "median_step_s" in r else r.get("error") or r.get("skipped"))
            summary.append(f"  step {r['workload']}: {what}")
    print(f"wrote {folder} in {time.perf_counter() - t0:.0f} s ({m['gpu']}, driver {m.get('driver')}, torch {m['torch']})")
    print("\n".join(summary))
    return folder


if __name__ == "__main__":
    main()
