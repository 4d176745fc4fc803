"""Hardware catalog: GPU specs as cited data (one TOML per GPU), with aliases and what-if scaling.

Importing this package imports nothing heavy (no torch)."""

from trainperf.hardware.catalog import get_gpu, list_gpus, load_gpu
from trainperf.hardware.efficiency import MeasuredAnchor, measured_anchors
from trainperf.hardware.spec import PRECISIONS, GPUSpec, precision_of

__all__ = [
    "PRECISIONS", "GPUSpec", "MeasuredAnchor", "get_gpu", "list_gpus", "load_gpu", "measured_anchors",
    "precision_of",
]
