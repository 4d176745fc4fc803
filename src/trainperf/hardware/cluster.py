"""Cluster specs: GPUs grouped into link tiers (NVLink domain, scale-out network), loaded from TOML.

A cluster is a GPU type plus an ordered list of tiers, innermost first. Each tier says how many GPUs one
of its domains holds, its per-GPU bandwidth per direction, its latency class (NCCL hop latencies), the collective algorithms
it supports, and the *achievable* bus-bandwidth fraction of each collective (measured nccl-tests busbw /
link bandwidth), all cited data (DESIGN.md principle 2). File layout (docs/parallel.md)::

    name = "dgx-h100"
    gpu = "H100-SXM"
    gpus_per_node = 8
    source = "citation for numbers without their own"
    [[tier]]
    name = "nvlink"
    domain_gpus = 8
    bw_GBps = 450.0
    link = "nvlink"              # NCCL latency class: nvlink, pci or net
    algorithms = ["ring", "tree", "nvls"]
    busbw_fraction = { all_reduce = 0.82, ... }
    source = "..."
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from trainperf.hardware.catalog import get_gpu, read_toml
from trainperf.hardware.spec import GPUSpec
from trainperf.vocab import LinkClass

CLUSTER_DIR = Path(__file__).parent / "data" / "clusters"
COLLECTIVES = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "send_recv")
ALGORITHMS = ("ring", "tree", "nvls")
_TIER_KEYS = {"name", "domain_gpus", "bw_GBps", "link", "latency_scale", "algorithms", "busbw_fraction",
              "nvls_busbw_fraction", "source"}
_TOP_KEYS = {"name", "description", "gpu", "gpus_per_node", "max_gpus", "source", "tier", "aliases"}


@dataclass(frozen=True, kw_only=True)
class LinkTier:
    """One level of the interconnect. Bandwidths are per GPU, per direction, GB/s (1e9)."""

    name: str
    domain_gpus: int
    """GPUs in one domain of this tier (8 for an NVLink node, 72 for NVL72); 0 = unbounded (the network)."""
    bw_GBps: float
    link: LinkClass = LinkClass.NVLINK
    """NCCL's latency class of this tier's hops (parallel/nccl.py: per-hop latency by algorithm and protocol)."""
    latency_scale: float = 1.0
    """Multiplies NCCL's hop latencies on this tier: a slower or faster hypothetical fabric."""
    algorithms: tuple[str, ...] = ("ring", "tree")
    busbw_fraction: Mapping[str, float] = field(default_factory=dict)
    """Collective -> achievable busbw / bw_GBps for large messages (nccl-tests), ring or tree."""
    nvls_busbw_fraction: float = 0.0
    """All-reduce busbw / bw_GBps with NVLink SHARP (in-switch reduction); 0 without NVLS."""
    source: str = ""

    def __post_init__(self) -> None:
        if self.domain_gpus < 0:
            raise ValueError(f"tier {self.name!r}: domain_gpus = {self.domain_gpus} must be >= 0 (0 = unbounded)")
        if self.bw_GBps <= 0:
            raise ValueError(f"tier {self.name!r}: bw_GBps = {self.bw_GBps} must be > 0")
        if not (math.isfinite(self.latency_scale) and self.latency_scale > 0):
            raise ValueError(f"tier {self.name!r}: latency_scale = {self.latency_scale} must be a number > 0")
        bad = [a for a in self.algorithms if a not in ALGORITHMS]
        if bad:
            raise ValueError(f"tier {self.name!r}: unknown algorithms {bad}; use {ALGORITHMS}")
        for k, v in self.busbw_fraction.items():
            if k not in COLLECTIVES:
                raise ValueError(f"tier {self.name!r}: busbw_fraction key {k!r} not in {COLLECTIVES}")
            if not 0 < v <= 1.5:
                raise ValueError(f"tier {self.name!r}: busbw_fraction[{k}] = {v} must be in (0, 1.5]")
        if self.nvls_busbw_fraction and "nvls" not in self.algorithms:
            raise ValueError(f"tier {self.name!r}: nvls_busbw_fraction given but 'nvls' not in algorithms")
        if not self.source:
            raise ValueError(f"tier {self.name!r}: no source; cite where its numbers come from")
        object.__setattr__(self, "busbw_fraction", MappingProxyType(dict(self.busbw_fraction)))

    def fraction(self, collective: str) -> float:
        """Achievable busbw fraction for a collective (all_reduce's when the file does not give it)."""
        return float(self.busbw_fraction.get(collective, self.busbw_fraction.get("all_reduce", 0.8)))


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    """A homogeneous GPU cluster: one GPU type and its link tiers, innermost first."""

    name: str
    gpu: GPUSpec
    gpus_per_node: int
    tiers: tuple[LinkTier, ...]
    max_gpus: int = 0
    """Largest size built (0 = no limit); only checked when a plan asks for more."""
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError(f"cluster {self.name!r}: needs at least one [[tier]]")
        if self.gpus_per_node < 1:
            raise ValueError(f"cluster {self.name!r}: gpus_per_node = {self.gpus_per_node} must be >= 1")
        sizes = [t.domain_gpus for t in self.tiers]
        for inner, outer in itertools.pairwise(sizes):
            if inner == 0 or (outer and outer % inner):
                raise ValueError(f"cluster {self.name!r}: tier domain sizes {sizes} must grow, each dividing the "
                                 "next, with only the last unbounded (0)")

    @property
    def nvlink_domain(self) -> int:
        """GPUs in the innermost (fastest) domain."""
        return self.tiers[0].domain_gpus or 1

    def tier_for_span(self, span: int) -> LinkTier:
        """The slowest tier a group of ``span`` consecutive ranks crosses."""
        for t in self.tiers:
            if t.domain_gpus == 0 or span <= t.domain_gpus:
                return t
        return self.tiers[-1]

    def with_links_scaled(self, factors: Mapping[str, float]) -> ClusterSpec:
        """The same cluster with tier bandwidths x factor, by tier name (e.g. {'nvlink': 0.5}): a degraded
        or hypothetical link. Unknown names and factors outside (0, 100] are refused with the choices."""
        names = [t.name for t in self.tiers]
        for k, f in factors.items():
            if k not in names:
                raise ValueError(f"link {k!r}: cluster {self.name} has tiers {', '.join(names)}")
            if not 0 < f <= 100:
                raise ValueError(f"link {k}={f}: the factor must be in (0, 100], e.g. {k}=0.5")
        tiers = tuple(dataclasses.replace(t, bw_GBps=t.bw_GBps * factors[t.name]) if t.name in factors else t
                      for t in self.tiers)
        return dataclasses.replace(self, tiers=tiers)

    def with_gpu(self, gpu: GPUSpec | str) -> ClusterSpec:
        """The same fabric with another GPU part (e.g. the 40 GB A100 in a DGX A100)."""
        g = get_gpu(gpu) if isinstance(gpu, str) else gpu
        return dataclasses.replace(self, gpu=g)


def _tier(raw: dict[str, Any], where: str, default_src: str) -> LinkTier:
    if "latency_us" in raw:
        raise ValueError(f"{where}: [[tier]] {raw.get('name', '?')!r}: latency_us is no longer read; hop latencies "
                         "come from NCCL's model by link class: set link = \"nvlink\", \"pci\" or \"net\" (and "
                         "latency_scale = 2.0 for a fabric twice as slow)")
    unknown = set(raw) - _TIER_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown [[tier]] keys {sorted(unknown)}; allowed: {sorted(_TIER_KEYS)}")
    for key in ("name", "domain_gpus", "bw_GBps"):
        if key not in raw:
            raise ValueError(f"{where}: [[tier]] lacks required key {key!r}")
    dom = int(raw["domain_gpus"])
    link = str(raw.get("link", LinkClass.NET if dom == 0 else LinkClass.NVLINK))
    if link not in tuple(LinkClass):
        raise ValueError(f"{where}: [[tier]] {raw['name']!r}: link = {link!r}; use one of "
                         f"{', '.join(LinkClass)}")
    return LinkTier(
        name=str(raw["name"]), domain_gpus=dom, bw_GBps=float(raw["bw_GBps"]), link=LinkClass(link),
        latency_scale=float(raw.get("latency_scale", 1.0)), algorithms=tuple(raw.get("algorithms", ("ring", "tree"))),
        busbw_fraction={str(k): float(v) for k, v in raw.get("busbw_fraction", {}).items()},
        nvls_busbw_fraction=float(raw.get("nvls_busbw_fraction", 0.0)),
        source=str(raw.get("source", default_src)),
    )


def cluster_from_dict(raw: dict[str, Any], *, where: str = "<dict>") -> ClusterSpec:
    """Build a ClusterSpec from parsed TOML; errors name the file and the key."""
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("name", "gpu", "gpus_per_node", "tier"):
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")
    src = str(raw.get("source", ""))
    try:
        return ClusterSpec(
            name=str(raw["name"]), gpu=get_gpu(str(raw["gpu"])), gpus_per_node=int(raw["gpus_per_node"]),
            tiers=tuple(_tier(t, where, src) for t in raw["tier"]), max_gpus=int(raw.get("max_gpus", 0)),
            description=str(raw.get("description", "")), source=src,
        )
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def load_cluster(path: str | Path) -> ClusterSpec:
    """Load one cluster TOML file (a user's own, or one of the bundled ones)."""
    return cluster_from_dict(read_toml(path, "cluster spec"), where=str(path))


@lru_cache(maxsize=1)
def _bundled() -> dict[str, ClusterSpec]:
    out: dict[str, ClusterSpec] = {}
    for f in sorted(CLUSTER_DIR.glob("*.toml")):
        c = load_cluster(f)
        raw = tomllib.loads(f.read_text())
        for key in (c.name, *raw.get("aliases", ())):
            out[str(key).lower()] = c
    return out


def list_clusters() -> list[ClusterSpec]:
    """The bundled clusters, one each."""
    seen: dict[str, ClusterSpec] = {}
    for c in _bundled().values():
        seen.setdefault(c.name, c)
    return sorted(seen.values(), key=lambda c: c.name)


def get_cluster(name: str | Path) -> ClusterSpec:
    """A bundled cluster by name or alias (``dgx-h100``, ``gb200-nvl72``...), or a path to a TOML file."""
    s = str(name)
    if s.endswith(".toml") or Path(s).exists():
        return load_cluster(s)
    table = _bundled()
    try:
        return table[s.lower()]
    except KeyError:
        close = difflib.get_close_matches(s.lower(), list(table), n=3, cutoff=0.4)
        raise KeyError(f"unknown cluster {s!r}; closest: {', '.join(close) or 'none'} "
                       f"(all: {', '.join(c.name for c in list_clusters())}; or pass a .toml path)") from None
