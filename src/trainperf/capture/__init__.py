"""Capture one training step as an OpGraph (no GPU, no real memory).

Importing this package does not import torch; the capture functions do."""

from trainperf.opgraph import OPGRAPH_SCHEMA, OpGraph, StepMeta

__all__ = ["OPGRAPH_SCHEMA", "OpGraph", "StepMeta", "capture_module", "capture_workload"]


def capture_workload(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See trainperf.capture.api.capture_workload."""
    from trainperf.capture.api import capture_workload as f

    return f(*args, **kwargs)


def capture_module(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See trainperf.capture.api.capture_module."""
    from trainperf.capture.api import capture_module as f

    return f(*args, **kwargs)
