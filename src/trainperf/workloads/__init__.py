"""The workload zoo. See registry.py for the contract every workload follows."""

from trainperf.workloads.registry import (
    Built,
    Repeat,
    Size,
    UnknownWorkloadError,
    Workload,
    get_workload,
    list_workloads,
    register_workload,
)

__all__ = [
    "Built", "Repeat", "Size", "UnknownWorkloadError", "Workload", "get_workload", "list_workloads",
    "register_workload",
]
