import math
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "traces"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def traces(real_traces: Path) -> Path:
    return real_traces


def diff(a: Any, b: Any, at: str = "") -> list[str]:
    """Where two JSON-like values differ (floats to 1e-9 relative: the engines add in different orders)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{at}.{k}: only in one" for k in set(a) ^ set(b)]
        return out + [d for k in sorted(set(a) & set(b)) for d in diff(a[k], b[k], f"{at}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{at}: {len(a)} vs {len(b)} rows"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{at}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
        return [] if ok else [f"{at}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{at}: {a!r} vs {b!r}"]
