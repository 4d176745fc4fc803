"""Peak device memory of one training step (one model replica on one GPU, no sharding).

Model: parameters + gradients + optimizer state + activations saved for backward (capture measures each,
StepMeta) + the largest op's output x transient_factor (live temporaries in backward) + workspace.
Usable memory is hardware.spec.usable_bytes, the same figure the planner uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trainperf.hardware import GPUSpec
from trainperf.hardware.spec import usable_bytes
from trainperf.model.calibration import Calibration, GPURates
from trainperf.opgraph import StepMeta
from trainperf.vocab import Phase

MODEL_NOTE = ("params + grads + optimizer state + saved activations (captured) + largest op output x "
              "transient factor + workspace; capacity: hardware.spec.usable_bytes")


@dataclass(frozen=True, kw_only=True)
class MemoryEstimate:
    """Peak memory terms in bytes."""

    params: float
    grads: float
    optimizer_state: float
    activations: float
    transient: float
    workspace: float
    capacity: float
    """Usable bytes (hardware.spec.usable_bytes: binary datasheet GB, less 2% for the CUDA context)."""
    model: str = MODEL_NOTE

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer_state + self.activations + self.transient + self.workspace

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity


def peak_memory(meta: StepMeta, ops: pl.DataFrame, gpu: GPUSpec, calib: Calibration | GPURates) -> MemoryEstimate:
    fp = calib.footprint
    # In-place optimizer updates allocate nothing; the largest fwd/bwd output (e.g. fp32 logits) does.
    fb = ops.filter(pl.col("phase") != Phase.OPTIMIZER.value)
    largest = float(fb.select(pl.col("bytes_written").max()).item() or 0.0) if fb.height else 0.0
    return MemoryEstimate(
        params=meta.param_bytes, grads=meta.grad_bytes, optimizer_state=meta.optimizer_state_bytes,
        activations=meta.activation_bytes, transient=largest * fp.transient_factor,
        workspace=fp.workspace_bytes, capacity=usable_bytes(gpu.hbm_capacity_GB),
    )
