from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "traces"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def traces(real_traces: Path) -> Path:
    return real_traces
