"""GPUSpec: one accelerator's datasheet numbers, frozen and validated, each with its cited source.

Peaks only (dense, no sparsity); what real kernels achieve is kept apart (hardware/efficiency.py and the
model's calibration file), as DESIGN.md principle 2 asks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trainperf.vocab import Precision

# Canonical precision names (vocab.Precision, in datasheet order) and the torch dtype names that select them.
PRECISIONS = tuple(p.value for p in Precision)
_DTYPE_TO_PRECISION: dict[str, str] = {
    "float64": "fp64", "double": "fp64", "float32": "fp32", "float": "fp32", "tfloat32": "tf32",
    "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
    "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "float8_e4m3fnuz": "fp8", "float8_e5m2fnuz": "fp8",
    "float8_e8m0fnu": "fp8", "float4_e2m1fn_x2": "fp4",
}

# Fields a GPU file must give (numbers > 0), and the optional ones (None: the part lacks it).
NUMERIC_FIELDS = (
    "sm_count", "boost_clock_mhz", "hbm_capacity_GB", "hbm_bw_GBps", "l2_MB", "nvlink_bw_GBps",
    "pcie_bw_GBps", "tdp_W", "fp64_dense_tflops", "fp32_dense_tflops", "tf32_dense_tflops",
    "bf16_dense_tflops", "fp16_dense_tflops", "fp8_dense_tflops", "fp6_dense_tflops", "fp4_dense_tflops",
)
OPTIONAL_FIELDS = frozenset(
    {"tf32_dense_tflops", "bf16_dense_tflops", "fp8_dense_tflops", "fp6_dense_tflops", "fp4_dense_tflops"}
)
# nvlink_bw_GBps may be 0 (a PCIe-only part); the rest must be positive.
_ZERO_OK = frozenset({"nvlink_bw_GBps"})

# scaled() keyword -> the fields it multiplies.
_SCALE_KEYS: dict[str, tuple[str, ...]] = {
    "hbm_bw": ("hbm_bw_GBps",),
    "hbm_capacity": ("hbm_capacity_GB",),
    "l2": ("l2_MB",),
    "nvlink_bw": ("nvlink_bw_GBps",),
    "pcie_bw": ("pcie_bw_GBps",),
    "tdp": ("tdp_W",),
    "sm_count": ("sm_count",),
    **{p.value: (p.peak_field,) for p in Precision},
    "flops": tuple(p.peak_field for p in Precision),
}


USABLE_HBM_FRACTION = 0.98
"""Share of HBM tensors can use: ~2% goes to the CUDA context and driver."""


def usable_bytes(hbm_capacity_GB: float) -> float:
    """Allocatable device memory of a part, the one figure the single-GPU model and the planner both use.
    NB: datasheet 'GB' of HBM parts are binary (an 80 GB H100 reports 81559 MiB in nvidia-smi)."""
    return hbm_capacity_GB * 2**30 * USABLE_HBM_FRACTION


def precision_of(dtype: str) -> Precision:
    """Canonical precision (Precision.BF16, ...) of a precision or torch dtype name; ValueError if unknown."""
    d = dtype.lower().removeprefix("torch.")
    if d in PRECISIONS:
        return Precision(d)
    try:
        return Precision(_DTYPE_TO_PRECISION[d])
    except KeyError:
        raise ValueError(
            f"unknown precision or dtype {dtype!r}; use one of {', '.join(PRECISIONS)} or a torch dtype name"
        ) from None


@dataclass(frozen=True, kw_only=True)
class GPUSpec:
    """One accelerator as its datasheet gives it. All rates are dense (no 2:4 sparsity), per GPU."""

    name: str
    """Canonical catalog name, e.g. H100-SXM."""
    vendor: str
    """nvidia | amd | other."""
    family: str
    """Architecture family: volta, ampere, ada, hopper, blackwell, blackwell-ultra, cdna2, cdna3."""
    memory_type: str
    """HBM2, HBM2e, HBM3, HBM3e, GDDR6, GDDR6X."""
    form_factor: str
    """SXM, PCIe, OAM, superchip, ..."""
    sm_count: int
    """Streaming multiprocessors (NVIDIA) or compute units (AMD)."""
    boost_clock_mhz: float
    hbm_capacity_GB: float
    """Device memory in GB (1e9 bytes) as the datasheet states it."""
    hbm_bw_GBps: float
    """Peak device-memory bandwidth, GB/s (1e9)."""
    l2_MB: float
    nvlink_bw_GBps: float
    """NVLink (or Infinity Fabric) bandwidth per GPU per direction, GB/s; 0 without one."""
    pcie_bw_GBps: float
    """Host link per direction, GB/s."""
    tdp_W: float
    fp64_dense_tflops: float
    fp32_dense_tflops: float
    """Non-tensor-core FP32 (NVIDIA); matrix FP32 on AMD CDNA."""
    tf32_dense_tflops: float | None = None
    bf16_dense_tflops: float | None = None
    fp16_dense_tflops: float | None = None
    fp8_dense_tflops: float | None = None
    fp6_dense_tflops: float | None = None
    fp4_dense_tflops: float | None = None
    aliases: tuple[str, ...] = ()
    notes: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Field name -> citation, for every number."""
    derived_from: str = ""
    """For scaled() hardware: the catalog GPU it was derived from (its measured anchors still apply)."""
    scale_factors: Mapping[str, float] = field(default_factory=dict, compare=False)
    """For scaled() hardware: field -> cumulative factor applied to the base GPU's value."""

    def __post_init__(self) -> None:
        for f in NUMERIC_FIELDS:
            v = getattr(self, f)
            if v is None:
                if f not in OPTIONAL_FIELDS:
                    raise ValueError(f"GPU {self.name!r}: field {f} is required")
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"GPU {self.name!r}: field {f} = {v!r} is not a number")
            if not math.isfinite(v):  # TOML accepts nan and inf, and both pass a "> 0" check the wrong way
                raise ValueError(f"GPU {self.name!r}: field {f} = {v!r} must be a finite number")
            if v < 0 or (v == 0 and f not in _ZERO_OK):
                raise ValueError(f"GPU {self.name!r}: field {f} = {v!r} must be > 0 (omit it if the part lacks it)")
            if f not in self.sources:
                raise ValueError(f"GPU {self.name!r}: field {f} = {v} has no source; add one under [sources]")
        if self.vendor not in ("nvidia", "amd", "other"):
            raise ValueError(f"GPU {self.name!r}: vendor {self.vendor!r} must be nvidia, amd or other")
        if self.fp16_dense_tflops is None:
            raise ValueError(f"GPU {self.name!r}: fp16_dense_tflops is required")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "scale_factors", MappingProxyType(dict(self.scale_factors)))

    def peak_tflops(self, dtype: str) -> float:
        """Dense peak TFLOP/s for a precision ("bf16", "fp8", ...) or torch dtype name ("bfloat16", ...)."""
        p = precision_of(dtype)
        v = getattr(self, p.peak_field)
        if v is None:
            have = [q.value for q in Precision if getattr(self, q.peak_field) is not None]
            raise ValueError(f"{self.name} has no {p} tensor rate; it has {', '.join(have)}")
        return float(v)

    def has_precision(self, dtype: str) -> bool:
        return getattr(self, precision_of(dtype).peak_field) is not None

    def scaled(self, name: str | None = None, /, **factors: float) -> GPUSpec:
        """Hypothetical hardware: multiply fields by factors, e.g. ``scaled(hbm_bw=2.0, bf16=1.5)``; an
        optional first positional argument names the result.

        Keys: hbm_bw, hbm_capacity, l2, nvlink_bw, pcie_bw, tdp, sm_count, fp64..fp4, flops (all rates).
        """
        if not factors:
            raise ValueError("scaled() needs at least one factor, e.g. scaled(hbm_bw=2.0)")
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        applied = dict(self.scale_factors)
        for key, fac in factors.items():
            if key not in _SCALE_KEYS:
                raise ValueError(f"scaled(): unknown key {key!r}; use one of {', '.join(_SCALE_KEYS)}")
            if not isinstance(fac, int | float) or fac <= 0:
                raise ValueError(f"scaled(): factor {key}={fac!r} must be a number > 0")
            for f in _SCALE_KEYS[key]:
                v = changes.get(f, getattr(self, f))
                if v is None:
                    continue
                changes[f] = round(v * fac) if f == "sm_count" else v * fac
                applied[f] = applied.get(f, 1.0) * fac
                sources[f] = f"{self.name} x{fac:g} (hypothetical); base: {self.sources.get(f, '')}"
        label = ",".join(f"{k}={v:g}" for k, v in factors.items())
        return dataclasses.replace(
            self, name=name or f"{self.name}[{label}]", aliases=(), sources=sources,
            derived_from=self.derived_from or self.name, scale_factors=applied, **changes
        )

    def factor(self, field_name: str) -> float:
        """How much scaled() multiplied `field_name` relative to the catalog GPU (1.0 if not scaled)."""
        return float(self.scale_factors.get(field_name, 1.0))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (sources included) for JSON and tables."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["sources"] = dict(self.sources)
        d["aliases"] = list(self.aliases)
        d["scale_factors"] = dict(self.scale_factors)
        return d
