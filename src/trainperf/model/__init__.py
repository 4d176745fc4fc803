"""Single-GPU performance model: per-op roofline with efficiency curves on a GPUSpec -> StepEstimate.

Importing this package does not import torch."""

from trainperf.model.api import load_graph, predict_workload
from trainperf.model.calibration import Calibration, load_calibration
from trainperf.model.config import ExecConfig
from trainperf.model.dp import DPThroughput, dp_throughput
from trainperf.model.memory import MemoryEstimate
from trainperf.model.ops import op_times
from trainperf.model.step import StepEstimate, predict_step

__all__ = [
    "Calibration",
    "DPThroughput",
    "ExecConfig",
    "MemoryEstimate",
    "StepEstimate",
    "dp_throughput",
    "load_calibration",
    "load_graph",
    "op_times",
    "predict_step",
    "predict_workload",
]
