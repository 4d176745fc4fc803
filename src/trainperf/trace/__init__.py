"""Kineto / Chrome-trace JSON (one file or a folder of per-rank files) -> the Events table, and the
analyses on it (trainperf.trace.analyses, one pure table -> table function each). Imports nothing
heavy: no torch.

The names below are imported on first use (PEP 562): the small-trace engine (trainperf.trace.quick)
lives in this package and must not pay for polars when it is imported."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainperf.trace.api import TraceAnalysis, TraceComparison, analyze, compare_traces
    from trainperf.trace.load import load_trace
    from trainperf.trace.schema import EVENTS_COLUMNS, EVENTS_SCHEMA, RankInfo, TraceError, TraceSet

_WHERE = {"TraceAnalysis": "api", "TraceComparison": "api", "analyze": "api", "compare_traces": "api",
          "load_trace": "load", "EVENTS_COLUMNS": "schema", "EVENTS_SCHEMA": "schema", "RankInfo": "schema",
          "TraceError": "schema", "TraceSet": "schema"}

__all__ = ["EVENTS_COLUMNS", "EVENTS_SCHEMA", "RankInfo", "TraceAnalysis", "TraceComparison", "TraceError",
           "TraceSet", "analyze", "compare_traces", "load_trace"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'trainperf.trace' has no attribute {name!r}")
    value = getattr(import_module(f"trainperf.trace.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
