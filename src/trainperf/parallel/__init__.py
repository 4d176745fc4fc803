"""Distributed training model: parallel plans, collectives on link tiers, pipeline schedules, memory.

    from trainperf.parallel import ParallelPlan, evaluate, TransformerArch
    from trainperf.hardware.cluster import get_cluster
    est = evaluate(arch, ParallelPlan(gpus=16384, tp=8, pp=16, mbs=1, gbs=2048, seq=8192), get_cluster("dgx-h100"))
"""

from trainperf.parallel.arch import TransformerArch, from_hf_config
from trainperf.parallel.collectives import Collective, bus_factor, collective_time
from trainperf.parallel.estimate import Infeasible, PlanEstimate, evaluate
from trainperf.parallel.memory import MemoryBreakdown, memory_per_gpu
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding
from trainperf.parallel.schedule import bubble_fraction, pipeline_time

__all__ = [
    "DEFAULT_PARAMS", "Collective", "Infeasible", "MemoryBreakdown", "ParallelPlan", "PlanEstimate", "Recompute",
    "Sharding", "StepModelParams", "TransformerArch", "bubble_fraction", "bus_factor", "collective_time", "evaluate",
    "from_hf_config", "memory_per_gpu", "pipeline_time",
]
