from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "traces"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def traces(shared_dir: Path) -> Path:
    p = shared_dir / "data" / "traces"
    if not p.exists():
        pytest.skip(f"real traces not found at {p}")
    return p
