"""The model's efficiency parameters: loaded from a calibration TOML (the packaged default, or one written
by `trainperf calibrate`). Values are fractions of datasheet peaks, latencies and host costs, each section
with its source under [sources]."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_CALIBRATION = Path(__file__).parent / "data" / "calibration.toml"

# section -> keys that must be present (scalars > 0 or per-family tables)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "matmul": ("peak_frac", "tiles", "tile_rel", "k_half", "latency_s", "fp32_simt_frac", "fp8_cast_bytes"),
    "attention": ("fwd_frac", "bwd_frac", "seq_half", "dim_half", "causal_tile", "latency_s"),
    "memory": ("bw_frac", "latency_s", "category_slowdown", "simt_frac"),
    "host": ("eager_op_s", "eager_bwd_op_s", "free_op_s", "launch_s", "compiled_kernel_s", "graph_kernel_s", "gpu_gap_s",
             "graph_gpu_gap_s"),
    "compile": ("fused_bytes_frac",),
    "power": ("exponent", "ref_tdp_W", "sustained_frac"),
    "footprint": ("workspace_bytes", "transient_factor"),
}


@dataclass(frozen=True)
class Calibration:
    """Efficiency parameters of the single-GPU model (see model/data/calibration.toml)."""

    data: Mapping[str, Any]
    path: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    _families: dict[str, Calibration] = field(default_factory=dict, init=False, repr=False, compare=False)
    """This calibration with each family's fit applied, built once per instance (for_family)."""

    def __post_init__(self) -> None:
        for sec, keys in _REQUIRED.items():
            if sec not in self.data:
                raise ValueError(f"calibration {self.path}: missing section [{sec}]")
            for k in keys:
                if k not in self.data[sec]:
                    raise ValueError(f"calibration {self.path}: missing [{sec}] {k}")
                v = self.data[sec][k]
                vals = v.values() if isinstance(v, dict) else [v] if isinstance(v, int | float) else []
                for x in vals:
                    if not isinstance(x, int | float) or x < 0:
                        raise ValueError(f"calibration {self.path}: [{sec}] {k} has value {x!r}; must be a number >= 0")
        fr = self.data["matmul"]["peak_frac"], self.data["memory"]["bw_frac"], self.data["power"]["sustained_frac"]
        for table in fr:
            for fam, x in table.items():
                if not 0 < x <= 1:
                    raise ValueError(f"calibration {self.path}: fraction {fam} = {x} must be in (0, 1]")
        if len(self.data["matmul"]["tiles"]) != len(self.data["matmul"]["tile_rel"]):
            raise ValueError(f"calibration {self.path}: [matmul] tiles and tile_rel differ in length")

    def for_family(self, family: str) -> Calibration:
        """This calibration with the `[fit.<family>]` table (written by `trainperf calibrate` from traces of
        that architecture family) applied; families without a fit keep the base values."""
        fits = self.data.get("fit", {})
        table = fits.get(family)
        if not isinstance(table, dict) or not table:
            return self
        return _family_cached(self, family)

    def for_gpu(self, family: str, vendor: str) -> Calibration:
        """The fit of the GPU's family, or else of its vendor's reference family ([fit_fallback]): kernel
        latencies and the slowdowns of PyTorch's memory-bound kernels are properties of the software as
        much as of the chip, so a measured sibling is a better prior than none."""
        fits = self.data.get("fit", {})
        if family in fits:
            return self.for_family(family)
        ref = self.data.get("fit_fallback", {}).get(vendor, "")
        return self.for_family(ref) if ref in fits else self

    def get(self, section: str, key: str) -> Any:
        return self.data[section][key]

    def by_family(self, section: str, key: str, family: str) -> float:
        """A per-family value, falling back to the table's `default` entry."""
        table = self.data[section][key]
        return float(table.get(family, table.get("default", 0.0)))


def apply_fit(data: Mapping[str, Any], fit: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`data` with "section.key" overrides from `fit` (tables replace tables whole)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for dotted, v in fit.items():
        sec, _, key = dotted.partition(".")
        if sec not in out or not key or not isinstance(out[sec], dict):
            raise ValueError(f"{where}: fit key {dotted!r} must be section.key with an existing section")
        out[sec][key] = v
    return out


def _family_cached(calib: Calibration, family: str) -> Calibration:
    # cached on the instance, not by id(): a temporary Calibration's id can be reused after it is freed
    if family not in calib._families:
        data = apply_fit(calib.data, calib.data["fit"][family], f"{calib.path} [fit.{family}]")
        data["fit"] = {}
        calib._families[family] = Calibration(data=data, path=calib.path, sources=calib.sources)
    return calib._families[family]


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Load a calibration TOML; None gives the packaged default."""
    if path is None:
        return _default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default() -> Calibration:
    return _load(DEFAULT_CALIBRATION)


def _load(p: Path) -> Calibration:
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such calibration file (write one with `trainperf calibrate -o {p}`)")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not valid TOML ({e})") from None
    # [fit.<family>] tables (written by `trainperf calibrate`) override "section.key" entries for GPUs of
    # that family (Calibration.for_family); flat "section.key" entries under [fit] apply to every family.
    fit = raw.get("fit", {})
    flat = {k: v for k, v in fit.items() if "." in k}
    data = apply_fit(raw, flat, f"{p} [fit]")
    data["fit"] = {k: v for k, v in fit.items() if "." not in k}
    for fam, table in data["fit"].items():
        apply_fit(raw, table, f"{p} [fit.{fam}]")  # validate now, not at first use
    return Calibration(data=data, path=str(p), sources=dict(raw.get("sources", {})))
