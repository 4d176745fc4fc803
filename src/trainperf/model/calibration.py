"""The model's efficiency parameters: loaded from a calibration TOML (the packaged default, or one written
by `trainperf calibrate`). Values are fractions of datasheet peaks, latencies and host costs, each section
with its source under [sources].

Loading parses and checks the file once into typed sections (`MatmulRates`, ... `FootprintRates`), for the
base values and for every `[fit.<family>]`. `Calibration.rates(family, vendor)` resolves it for one GPU
(its family's fit, the per-family tables read at its family) into the `GPURates` the model functions take,
once per GPU family: like Calculon's `Processor(cfg)`, nothing downstream looks a key up by name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_CALIBRATION = Path(__file__).parent / "data" / "calibration.toml"

FamilyTable = Mapping[str, float]
"""Per architecture family values (`{ hopper = 0.80, default = 0.70 }`), as written in the file."""


@dataclass(frozen=True, kw_only=True)
class MatmulRates:
    """[matmul]: GEMMs on tensor cores (CTA tile and wave quantization, short-K and fixed costs)."""

    peak_frac: FamilyTable
    tiles: tuple[tuple[int, ...], ...]
    tile_rel: tuple[float, ...]
    k_half: float
    latency_s: float
    fp32_simt_frac: float
    fp8_cast_bytes: float
    fp4_cast_bytes: float = 0.0
    unaligned_exponent: FamilyTable = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AttentionRates:
    """[attention]: flash attention (FlashAttention-2; cuDNN where the family has published rates)."""

    fwd_frac: FamilyTable
    bwd_frac: FamilyTable
    seq_half: float
    dim_half: float
    causal_tile: float
    latency_s: float
    fwd_frac_cudnn: FamilyTable = field(default_factory=dict)
    bwd_frac_cudnn: FamilyTable = field(default_factory=dict)
    bwd_seq_half: float | None = None
    """None: the forward's seq_half."""
    causal_balance: float = 1.0
    exp_per_clk_sm: float = 0.0
    """0: softmax exponentials are not priced."""


@dataclass(frozen=True, kw_only=True)
class MemoryRates:
    """[memory]: memory-bound kernels (HBM bandwidth, per-category slowdowns and floors)."""

    bw_frac: FamilyTable
    latency_s: float
    category_slowdown: Mapping[str, float]
    simt_frac: float
    category_latency_s: Mapping[str, float] = field(default_factory=dict)
    """Floor per category; latency_s for the others."""


@dataclass(frozen=True, kw_only=True)
class HostRates:
    """[host]: CPU-side dispatch and launch costs, GPU-side gaps between kernels (seconds)."""

    eager_op_s: float
    eager_bwd_op_s: float
    free_op_s: float
    launch_s: float
    compiled_kernel_s: float
    graph_kernel_s: float
    gpu_gap_s: float
    graph_gpu_gap_s: float


@dataclass(frozen=True, kw_only=True)
class CompileRates:
    """[compile]: torch.compile (Inductor) fusion of memory-bound chains."""

    fused_bytes_frac: float


@dataclass(frozen=True, kw_only=True)
class PowerRates:
    """[power]: clocks of power-capped parts and of long (sustained) runs."""

    exponent: float
    ref_tdp_W: Mapping[str, float]
    """Reference TDP per family (no `default`: families without one are not derated)."""
    sustained_frac: FamilyTable


@dataclass(frozen=True, kw_only=True)
class FootprintRates:
    """[footprint]: memory beyond parameters, gradients, optimizer state and saved activations."""

    workspace_bytes: float
    transient_factor: float


_SECTIONS: dict[str, type] = {"matmul": MatmulRates, "attention": AttentionRates, "memory": MemoryRates,
                              "host": HostRates, "compile": CompileRates, "power": PowerRates,
                              "footprint": FootprintRates}


def _required(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


# section -> keys that must be present (scalars >= 0 or per-family tables): the fields without a default
_REQUIRED: dict[str, tuple[str, ...]] = {sec: _required(cls) for sec, cls in _SECTIONS.items()}
_FRACTIONS = (("matmul", "peak_frac"), ("memory", "bw_frac"), ("power", "sustained_frac"))


def _typed(v: Any) -> Any:
    """A TOML value as a section field holds it: arrays as tuples, tables as dicts, numbers as they are
    written (an int stays an int, so that `trainperf calibrate` writes back what it read)."""
    if isinstance(v, list):
        return tuple(_typed(x) for x in v)
    if isinstance(v, dict):
        return dict(v)
    return v


def _validate(data: Mapping[str, Any], path: str) -> None:
    for sec, keys in _REQUIRED.items():
        if sec not in data:
            raise ValueError(f"calibration {path}: missing section [{sec}]")
        for k in keys:
            if k not in data[sec]:
                raise ValueError(f"calibration {path}: missing [{sec}] {k}")
            v = data[sec][k]
            vals = v.values() if isinstance(v, dict) else [v] if isinstance(v, int | float) else []
            for x in vals:
                if not isinstance(x, int | float) or x < 0:
                    raise ValueError(f"calibration {path}: [{sec}] {k} has value {x!r}; must be a number >= 0")
    for sec, k in _FRACTIONS:
        for fam, x in data[sec][k].items():
            if not 0 < x <= 1:
                raise ValueError(f"calibration {path}: fraction {fam} = {x} must be in (0, 1]")
    if len(data["matmul"]["tiles"]) != len(data["matmul"]["tile_rel"]):
        raise ValueError(f"calibration {path}: [matmul] tiles and tile_rel differ in length")


def _section(cls: type, table: Mapping[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _typed(v) for k, v in table.items() if k in names})


def _at(table: FamilyTable, family: str) -> float:
    """A per-family value, falling back to the table's `default` entry (else 0)."""
    return float(table.get(family, table.get("default", 0.0)))


@dataclass(frozen=True, kw_only=True)
class GPURates:
    """A calibration resolved for one GPU family: the family's fit (or its vendor's reference fit) applied,
    and every per-family table read at the family. Built once per family by `Calibration.rates`."""

    family: str
    calibration: Calibration
    """The calibration with the fit applied (its untyped [pcie] and [conv] sections)."""
    matmul: MatmulRates
    attention: AttentionRates
    memory: MemoryRates
    host: HostRates
    compile: CompileRates
    power: PowerRates
    footprint: FootprintRates
    gemm_frac: float
    """[matmul] peak_frac: fraction of the dense peak a large GEMM reaches (measured anchors override it)."""
    unaligned_exponent: float
    attention_fracs: Mapping[str, tuple[float, float]]
    """Backend -> (forward, backward) fraction of the dense peak of a long flash-attention kernel."""
    bw_frac: float
    """[memory] bw_frac: fraction of peak HBM bandwidth (measured anchors override it)."""
    ref_tdp_W: float | None
    """[power] ref_tdp_W of the family; None: no power-cap derate."""
    sustained_frac: float

    @classmethod
    def resolve(cls, calib: Calibration, family: str) -> GPURates:
        """`calib` (its fit already applied) read at `family`."""
        att = calib.attention
        fwd, bwd = _at(att.fwd_frac, family), _at(att.bwd_frac, family)
        # cuDNN: families without published rates run at the flash2 ones
        fracs = {"flash2": (fwd, bwd), "cudnn": (float(att.fwd_frac_cudnn.get(family, fwd)),
                                                 float(att.bwd_frac_cudnn.get(family, bwd)))}
        return cls(family=family, calibration=calib, matmul=calib.matmul, attention=att, memory=calib.memory,
                   host=calib.host, compile=calib.compile, power=calib.power, footprint=calib.footprint,
                   gemm_frac=_at(calib.matmul.peak_frac, family),
                   unaligned_exponent=_at(calib.matmul.unaligned_exponent, family), attention_fracs=fracs,
                   bw_frac=_at(calib.memory.bw_frac, family), ref_tdp_W=calib.power.ref_tdp_W.get(family),
                   sustained_frac=_at(calib.power.sustained_frac, family))

    @property
    def bwd_seq_half(self) -> float:
        a = self.attention
        return float(a.seq_half if a.bwd_seq_half is None else a.bwd_seq_half)

    def memory_latency_s(self, category: str) -> float:
        """Floor of one memory-bound kernel of `category`."""
        return self.memory.category_latency_s.get(category, self.memory.latency_s)


@dataclass(frozen=True)
class Calibration:
    """Efficiency parameters of the single-GPU model (see model/data/calibration.toml), checked and typed at
    construction. `data` is the parsed file (flat [fit] entries applied), which `trainperf calibrate`
    extends with fits; the model reads the typed sections."""

    data: Mapping[str, Any]
    path: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    matmul: MatmulRates = field(init=False, repr=False, compare=False)
    attention: AttentionRates = field(init=False, repr=False, compare=False)
    memory: MemoryRates = field(init=False, repr=False, compare=False)
    host: HostRates = field(init=False, repr=False, compare=False)
    compile: CompileRates = field(init=False, repr=False, compare=False)
    power: PowerRates = field(init=False, repr=False, compare=False)
    footprint: FootprintRates = field(init=False, repr=False, compare=False)
    _families: dict[str, Calibration] = field(default_factory=dict, init=False, repr=False, compare=False)
    """This calibration with each family's fit applied, built once per instance (for_family)."""
    _rates: dict[tuple[str, str], GPURates] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self.data, self.path)
        for sec, cls in _SECTIONS.items():
            object.__setattr__(self, sec, _section(cls, self.data[sec]))

    def for_family(self, family: str) -> Calibration:
        """This calibration with the `[fit.<family>]` table (written by `trainperf calibrate` from traces of
        that architecture family) applied; families without a fit keep the base values."""
        table = self.data.get("fit", {}).get(family)
        if not isinstance(table, dict) or not table:
            return self
        # cached on the instance, not by id(): a temporary Calibration's id can be reused after it is freed
        if family not in self._families:
            data = apply_fit(self.data, table, f"{self.path} [fit.{family}]")
            data["fit"] = {}
            try:
                self._families[family] = Calibration(data=data, path=self.path, sources=self.sources)
            except ValueError as e:
                raise ValueError(f"{e} (with [fit.{family}] applied)") from None
        return self._families[family]

    def for_gpu(self, family: str, vendor: str) -> Calibration:
        """The fit of the GPU's family, or else of its vendor's reference family ([fit_fallback]): kernel
        latencies and the slowdowns of PyTorch's memory-bound kernels are properties of the software as
        much as of the chip, so a measured sibling is a better prior than none."""
        fits = self.data.get("fit", {})
        if family in fits:
            return self.for_family(family)
        ref = self.data.get("fit_fallback", {}).get(vendor, "")
        return self.for_family(ref) if ref in fits else self

    def rates(self, family: str, vendor: str) -> GPURates:
        """The rates of a GPU of `family` by `vendor` (for_gpu's fit, tables read at `family`), built once."""
        key = (family, vendor)
        if key not in self._rates:
            self._rates[key] = GPURates.resolve(self.for_gpu(family, vendor), family)
        return self._rates[key]

    def with_fit(self, fit: Mapping[str, Any], where: str = "fit") -> Calibration:
        """This calibration with "section.key" overrides (`trainperf calibrate`'s trials and results)."""
        return Calibration(data=apply_fit(self.data, fit, where), path=self.path, sources=self.sources)

    def get(self, section: str, key: str) -> Any:
        """A value by name, as the file has it (scripts and reports; the model reads the typed sections)."""
        return self.data[section][key]

    def by_family(self, section: str, key: str, family: str) -> float:
        """A per-family value by name, falling back to the table's `default` entry."""
        return _at(self.data[section][key], family)


def apply_fit(data: Mapping[str, Any], fit: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`data` with "section.key" overrides from `fit` (tables replace tables whole)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for dotted, v in fit.items():
        sec, _, key = dotted.partition(".")
        if sec not in out or not key or not isinstance(out[sec], dict):
            raise ValueError(f"{where}: fit key {dotted!r} must be section.key with an existing section")
        out[sec][key] = v
    return out


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
    calib = Calibration(data=data, path=str(p), sources=dict(raw.get("sources", {})))
    for fam, table in data["fit"].items():
        if not isinstance(table, dict):
            raise ValueError(f"{p} [fit]: {fam!r} = {table!r} must be a [fit.<family>] table or a section.key entry")
        calib.for_family(fam)  # parse and check every family's fit now, not at first use
    return calib
