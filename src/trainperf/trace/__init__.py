"""Kineto / Chrome-trace JSON (one file or a folder of per-rank files) -> the Events table, and the
analyses on it (trainperf.trace.analyses, one pure table -> table function each). Imports nothing
heavy: no torch."""

from trainperf.trace.api import TraceAnalysis, TraceComparison, analyze, compare_traces
from trainperf.trace.load import load_trace
from trainperf.trace.schema import EVENTS_COLUMNS, EVENTS_SCHEMA, RankInfo, TraceError, TraceSet

__all__ = ["EVENTS_COLUMNS", "EVENTS_SCHEMA", "RankInfo", "TraceAnalysis", "TraceComparison", "TraceError",
           "TraceSet", "analyze", "compare_traces", "load_trace"]
