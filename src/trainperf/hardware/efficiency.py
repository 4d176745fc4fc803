"""Measured achievable rates on real cards, kept apart from datasheet peaks (DESIGN.md principle 2).

Each anchor is one measurement with its source (hardware/data/efficiency.toml). The model uses an anchor
where the GPU has one, and the calibrated fraction of peak (model/data/calibration.toml) elsewhere.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

EFFICIENCY_FILE = Path(__file__).parent / "data" / "efficiency.toml"
KINDS = ("matmul_tflops", "copy_GBps")


@dataclass(frozen=True, kw_only=True)
class MeasuredAnchor:
    """One measured achievable rate on a real card."""

    gpu: str
    """Canonical catalog name."""
    kind: str
    """matmul_tflops: a large square GEMM (TFLOP/s); copy_GBps: device-to-device copy, bytes read + written."""
    dtype: str
    value: float
    low: float
    high: float
    shape: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"anchor for {self.gpu}: kind {self.kind!r} must be one of {KINDS}")
        if not (0 < self.low <= self.value <= self.high):
            raise ValueError(f"anchor {self.gpu}/{self.kind}: need 0 < low {self.low} <= value {self.value} <= high {self.high}")
        if not self.source:
            raise ValueError(f"anchor {self.gpu}/{self.kind}: source is required")


@lru_cache(maxsize=1)
def _anchors() -> tuple[MeasuredAnchor, ...]:
    raw = tomllib.loads(EFFICIENCY_FILE.read_text())
    out = []
    for i, a in enumerate(raw.get("anchor", [])):
        try:
            v = float(a["value"])
            out.append(MeasuredAnchor(gpu=a["gpu"], kind=a["kind"], dtype=a.get("dtype", ""), value=v,
                                      low=float(a.get("low", v)), high=float(a.get("high", v)),
                                      shape=a.get("shape", ""), source=a.get("source", "")))
        except KeyError as e:
            raise ValueError(f"{EFFICIENCY_FILE}: anchor #{i} lacks key {e}") from None
    return tuple(out)


def measured_anchors(gpu_name: str) -> dict[str, MeasuredAnchor]:
    """kind -> anchor for one catalog GPU (empty when nothing was measured on it)."""
    return {a.kind: a for a in _anchors() if a.gpu == gpu_name}


def all_anchors() -> tuple[MeasuredAnchor, ...]:
    return _anchors()
