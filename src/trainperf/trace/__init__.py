"""Kineto / Chrome-trace JSON (one file or a folder of per-rank files) -> the Events table, and the
analyses on it (trainperf.trace.analyses). Imports nothing heavy: no torch."""

from trainperf.trace.load import load_trace
from trainperf.trace.schema import EVENTS_COLUMNS, EVENTS_SCHEMA, RankInfo, TraceError, TraceSet

__all__ = ["EVENTS_COLUMNS", "EVENTS_SCHEMA", "RankInfo", "TraceError", "TraceSet", "load_trace"]
