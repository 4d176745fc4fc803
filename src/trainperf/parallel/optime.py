"""Per-op time of a rank's op table: the single seam between the parallel model and the single-GPU model.

The parallel model never prices an op itself: ``op_seconds`` hands the OpGraph-schema table to
``trainperf.model.op_times`` (roofline + efficiency curves + launch/host costs) and reads ``time_s``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from trainperf.hardware import GPUSpec
from trainperf.model import ExecConfig, op_times

# Plan precision -> the single-GPU model's execution precision. fp4 (NVFP4/MXFP4) GEMM rows carry their
# own math dtype, so the model prices them at the fp4 peak; the rest of the step runs as in an fp8 recipe.
_EXEC_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "fp4": "fp8"}


def op_seconds(ops: pl.DataFrame, gpu: GPUSpec, precision: str, *, compile: bool = False,
               attention: str = "flash2", sustained: bool = True) -> np.ndarray:
    """Seconds per row of an OpGraph-schema table on one GPU (time on the GPU timeline, incl. launch gaps), at
    sustained training clocks (ExecConfig.sustained, the default) or, with ``sustained=False``, at the burst
    clocks of a short profiler trace."""
    cfg = ExecConfig(precision=_EXEC_PRECISION[precision], compile=compile, attention=attention, sustained=sustained)
    return np.asarray(op_times(ops, gpu, cfg)["time_s"].to_numpy(), dtype=float)
