import os
from pathlib import Path

import pytest

# Model libraries must never reach the Hub in tests: a leak fails loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# Real profiler traces, carried in the repository (data/traces/README.md: sources and licenses).
REAL_TRACES = REPO / "data" / "traces"


@pytest.fixture(scope="session")
def published_csv() -> Path:
    """The published measurements, as the package ships them (what `trainperf validate` reads by default)."""
    from trainperf.data import PUBLISHED_CSV

    return PUBLISHED_CSV


@pytest.fixture(scope="session")
def real_traces() -> Path:
    return REAL_TRACES
