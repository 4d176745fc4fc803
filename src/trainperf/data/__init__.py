"""Data shipped with trainperf: the published training-throughput measurements `trainperf validate` checks
the distributed model against (published/README.md names every source and its FLOP convention)."""

from __future__ import annotations

from pathlib import Path

PUBLISHED_CSV = Path(__file__).resolve().parent / "published" / "published_training_perf.csv"
