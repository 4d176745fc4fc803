"""predict_step: one training step of an OpGraph on one GPU -> StepEstimate."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trainperf.hardware import GPUSpec, get_gpu
from trainperf.model.config import ExecConfig
from trainperf.model.memory import MemoryEstimate, peak_memory
from trainperf.model.ops import gpu_rates, op_times
from trainperf.opgraph import OpGraph
from trainperf.vocab import BoundBy, Phase, Precision


@dataclass(frozen=True, kw_only=True)
class StepEstimate:
    """Predicted training step on one GPU. Times in seconds, rates per second."""

    workload: str
    gpu: str
    config: ExecConfig
    step_time_s: float
    throughput: float
    """Units (meta.unit: tokens or samples) per second."""
    unit: str
    units_per_step: int
    model_flops: float
    """Model FLOPs of the step (meta.model_flops if the workload states it, else the sum of fwd+bwd op FLOPs)."""
    model_flops_source: str
    mfu: float
    peak_tflops: float
    peak_name: str
    """Which peak MFU is against, e.g. 'H100-SXM bf16 dense 989.5 TFLOP/s'."""
    gpu_busy_s: float
    host_s: float
    host_bound: bool
    categories: pl.DataFrame
    """category, time_s, share, gpu_time_s, sol_time_s, sol_pct, flops, bytes, kernels, bound_by."""
    memory: MemoryEstimate
    uncovered_ops: int
    uncovered_share_ops: float
    uncovered_share_time: float
    ops: pl.DataFrame
    """The per-op table of op_times."""
    warnings: tuple[str, ...] = ()
    """Inconsistencies found in the input (e.g. analytic model FLOPs far from the captured op FLOPs)."""
    kernels: str = "as-written"
    """Which kernels the step is priced with: as-written (the captured ops) or production (model/production.py)."""
    as_written_step_s: float | None = None
    """With production kernels that rewrote something: the step priced as captured, for comparison."""

    @property
    def fits(self) -> bool:
        return self.memory.fits

    def to_dict(self, with_ops: bool = False) -> dict[str, object]:
        m = self.memory
        d: dict[str, object] = {
            "workload": self.workload, "gpu": self.gpu, "precision": self.config.precision, "mode": self.config.mode, "sustained": self.config.sustained,
            "step_time_s": self.step_time_s, "throughput": self.throughput, "unit": self.unit,
            "kernels": self.kernels, "as_written_step_s": self.as_written_step_s,
            "units_per_step": self.units_per_step, "model_flops": self.model_flops,
            "model_flops_source": self.model_flops_source, "mfu": self.mfu, "mfu_peak": self.peak_name,
            "gpu_busy_s": self.gpu_busy_s, "host_s": self.host_s, "host_bound": self.host_bound,
            "categories": self.categories.to_dicts(),
            "memory": {"params": m.params, "grads": m.grads, "optimizer_state": m.optimizer_state,
                       "activations": m.activations, "transient": m.transient, "workspace": m.workspace,
                       "total": m.total, "capacity": m.capacity, "fits": m.fits, "model": m.model},
            "uncovered": {"ops": self.uncovered_ops, "share_ops": self.uncovered_share_ops,
                          "share_time": self.uncovered_share_time},
            "warnings": list(self.warnings),
        }
        if with_ops:
            d["ops"] = self.ops.drop("input_shapes", "output_shapes", "input_dtypes", "output_dtypes").to_dicts()
        return d


def _mfu_precision(cfg: ExecConfig) -> str:
    return Precision(cfg.precision).value  # fp8 steps are judged against the fp8 peak (glossary: MFU)


def predict_step(graph: OpGraph, gpu: GPUSpec | str, cfg: ExecConfig | None = None) -> StepEstimate:
    """Predict one training step of `graph` on `gpu` under `cfg` (precision, compile, CUDA graphs)."""
    gpu = get_gpu(gpu) if not isinstance(gpu, GPUSpec) else gpu
    cfg = cfg or ExecConfig()
    rates = gpu_rates(gpu, path=cfg.calibration)
    ops = op_times(graph.ops, gpu, cfg, rates)
    meta = graph.meta
    host = rates.host
    # View/metadata ops have no rows (no kernels) but cost host time in eager mode: spread them evenly.
    free_ops = float(meta.extra.get("free_ops", 0.0))
    free_host = 0.0 if (cfg.compile or cfg.cuda_graphs) else free_ops * host.free_op_s
    step = float(ops["time_s"].sum()) if ops.height else 0.0
    gpu_busy = float(ops["gpu_time_s"].sum()) if ops.height else 0.0
    host_s = float(ops["host_time_s"].sum()) + free_host if ops.height else free_host
    step = max(step, host_s)
    if cfg.cuda_graphs:
        step += host.launch_s  # one graph replay

    fwd_bwd = ops.filter(pl.col("phase").is_in([Phase.FWD.value, Phase.BWD.value]))
    if meta.model_flops > 0:
        mflops, msrc = meta.model_flops, "workload analytic convention (StepMeta.model_flops)"
    else:
        mflops, msrc = float(fwd_bwd["flops"].sum()), "sum of captured fwd+bwd op FLOPs"
    warnings = []
    captured = float(fwd_bwd["flops"].sum())
    # The workload's analytic FLOPs and the captured ops should agree (both count matmuls and unmasked
    # attention); a large gap means the graph lacks ops (or double counts), and MFU would mislead.
    if meta.model_flops > 0 and captured > 0 and not 0.5 < meta.model_flops / captured < 1.5:
        warnings.append(f"model FLOPs by the workload's formula ({meta.model_flops:.3g}) are "
                        f"{meta.model_flops / captured:.2f}x the captured fwd+bwd op FLOPs ({captured:.3g}): "
                        "the captured graph may be incomplete; MFU uses the formula")
    prec = _mfu_precision(cfg)
    if not gpu.has_precision(prec):
        prec = "fp16"
    peak = gpu.peak_tflops(prec)
    mfu = mflops / (step * peak * 1e12) if step > 0 else 0.0

    cats = (
        ops.group_by("category").agg(
            pl.col("time_s").sum(), pl.col("gpu_time_s").sum(), pl.col("sol_time_s").sum(),
            pl.col("flops").sum(), (pl.col("bytes_read") + pl.col("bytes_written")).sum().alias("bytes"),
            pl.col("eff_kernels").sum().alias("kernels"), pl.len().alias("ops"),
            pl.col("compute_s").sum(), pl.col("memory_s").sum(),
            (pl.col("time_s") - pl.col("gpu_time_s")).clip(lower_bound=0).sum().alias("exposed_host_s"),
        )
        .with_columns(
            (pl.col("time_s") / max(step, 1e-30)).alias("share"),
            (100.0 * pl.col("sol_time_s") / pl.col("time_s")).fill_nan(0.0).alias("sol_pct"),
            pl.when(pl.col("exposed_host_s") > 0.5 * pl.col("time_s")).then(pl.lit(BoundBy.LATENCY.value))
            .when((pl.col("gpu_time_s") - pl.max_horizontal("compute_s", "memory_s")) > pl.max_horizontal("compute_s", "memory_s"))
            .then(pl.lit(BoundBy.LATENCY.value))
            .when(pl.col("compute_s") >= pl.col("memory_s")).then(pl.lit(BoundBy.COMPUTE.value))
            .otherwise(pl.lit(BoundBy.MEMORY.value)).alias("bound_by"),
        )
        .sort("time_s", descending=True)
        .select("category", "time_s", "share", "gpu_time_s", "sol_time_s", "sol_pct", "flops", "bytes", "kernels",
                "ops", "bound_by")
    )
    unc = ops.filter(~pl.col("covered").fill_null(False))
    return StepEstimate(
        workload=f"{meta.workload}/{meta.flavor}", gpu=gpu.name, config=cfg, step_time_s=step,
        throughput=meta.units_per_step / step if step > 0 else 0.0, unit=meta.unit,
        units_per_step=meta.units_per_step, model_flops=mflops, model_flops_source=msrc, mfu=mfu,
        peak_tflops=peak, peak_name=f"{gpu.name} {prec} dense {peak:g} TFLOP/s", gpu_busy_s=gpu_busy,
        host_s=host_s, host_bound=host_s > 0.8 * step, categories=cats,
        memory=peak_memory(meta, graph.ops, gpu, rates), uncovered_ops=unc.height,
        uncovered_share_ops=unc.height / max(ops.height, 1),
        uncovered_share_time=float(unc["time_s"].sum()) / step if step > 0 and unc.height else 0.0, ops=ops,
        warnings=tuple(warnings),
    )
