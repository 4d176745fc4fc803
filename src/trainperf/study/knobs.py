"""The --vary vocabulary of `trainperf study` and the hardware of one study point.

A knob is either a factor on the base hardware (``hbm_bw=2``: twice the HBM bandwidth), an absolute size
(``domain=72``: 72 GPUs per NVLink domain) or a part swapped in (``gpu=B200``, ``cluster=my.toml``; user
TOML files are accepted). A point is one value per varied knob; ``cluster_for`` builds its ClusterSpec
from the base by reusing the hardware package's what-if helpers (GPUSpec.scaled,
ClusterSpec.with_links_scaled, with_gpu); only the NVLink-domain size has no helper there and is set here
(``with_domain``). Everything in this module is pure and picklable: points travel to worker processes
and Ray tasks as plain tuples, and each worker builds its ClusterSpec itself (specs hold mapping proxies,
which do not pickle).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from enum import StrEnum

from trainperf.hardware.cluster import ClusterSpec


class Knob(StrEnum):
    """What a study may vary (`--vary KNOB=V1,V2,...`)."""

    HBM_BW = "hbm_bw"
    """Factor on the GPU's HBM bandwidth (GPUSpec.scaled hbm_bw)."""
    HBM_CAPACITY = "hbm_capacity"
    """Factor on the GPU's HBM capacity: which layouts fit."""
    BF16 = "bf16"
    """Factor on the bf16 dense tensor rate."""
    FP8 = "fp8"
    """Factor on the fp8 dense tensor rate (matters with --precision fp8 or auto)."""
    FLOPS = "flops"
    """Factor on every tensor and vector rate at once."""
    NVLINK_BW = "nvlink_bw"
    """Factor on the innermost link tier's per-GPU bandwidth (the NVLink domain)."""
    NET_BW = "net_bw"
    """Factor on the outermost tier's per-GPU bandwidth (the scale-out network)."""
    NVLINK_LATENCY = "nvlink_latency"
    """Factor on the innermost tier's hop latencies (LinkTier.latency_scale; NCCL's per-hop model)."""
    NET_LATENCY = "net_latency"
    """Factor on the outermost tier's hop latencies (a slower or faster scale-out fabric)."""
    DOMAIN = "domain"
    """GPUs per NVLink domain (absolute, e.g. 8 or 72)."""
    GPU = "gpu"
    """GPU part swapped into the cluster: a catalog name or a GPU .toml file."""
    CLUSTER = "cluster"
    """Base cluster: a bundled name or a cluster .toml file."""


FACTOR_KNOBS = (Knob.HBM_BW, Knob.HBM_CAPACITY, Knob.BF16, Knob.FP8, Knob.FLOPS, Knob.NVLINK_BW, Knob.NET_BW,
                Knob.NVLINK_LATENCY, Knob.NET_LATENCY)
NUMERIC_KNOBS = (*FACTOR_KNOBS, Knob.DOMAIN)
"""Knobs with an elasticity (d log step time / d log value); gpu and cluster are categorical."""
LINK_KNOBS = (Knob.NVLINK_BW, Knob.NET_BW, Knob.NVLINK_LATENCY, Knob.NET_LATENCY, Knob.DOMAIN)
GPU_SCALE_KEY = {Knob.HBM_BW: "hbm_bw", Knob.HBM_CAPACITY: "hbm_capacity", Knob.BF16: "bf16", Knob.FP8: "fp8",
                 Knob.FLOPS: "flops"}
"""Knob -> GPUSpec.scaled keyword (hardware/spec.py _SCALE_KEYS)."""
MAX_FACTOR = 100.0
"""Largest factor accepted: ClusterSpec.with_links_scaled's bound, used for every factor knob."""
MAX_DOMAIN = 1 << 16
MAX_POINTS = 100_000

Value = float | int | str
Point = tuple[tuple[str, Value], ...]
"""One study point: (knob, value) per varied knob, in --vary order."""


def knob_of(name: str) -> Knob:
    try:
        return Knob(name.strip())
    except ValueError:
        raise ValueError(f"--vary {name.strip()!r}: unknown knob; choose one of "
                         f"{', '.join(k.value for k in Knob)}") from None


def parse_vary(text: str) -> tuple[Knob, tuple[Value, ...]]:
    """'hbm_bw=0.5,1,2' -> (Knob.HBM_BW, (0.5, 1.0, 2.0)); ValueError naming the bad value and the choices."""
    name, sep, vals = text.partition("=")
    knob = knob_of(name)
    items = [v.strip() for v in vals.split(",")] if sep else []
    if not items or any(not v for v in items):
        raise ValueError(f"--vary {text!r}: expected KNOB=V1,V2,... e.g. {knob.value}="
                         f"{'8,72' if knob is Knob.DOMAIN else 'B200,H200' if knob is Knob.GPU else '0.5,1,2'}")
    out: list[Value] = []
    for v in items:
        if knob in (Knob.GPU, Knob.CLUSTER):
            out.append(v)
            continue
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if knob is Knob.DOMAIN:
            if not (x.is_integer() and 1 <= x <= MAX_DOMAIN):
                raise ValueError(f"--vary domain={v}: must be a whole number of GPUs in 1..{MAX_DOMAIN}, e.g. 8 or 72")
            out.append(int(x))
        elif not (math.isfinite(x) and 0 < x <= MAX_FACTOR):
            raise ValueError(f"--vary {knob.value}={v}: must be a factor in (0, {MAX_FACTOR:g}], e.g. 0.5 or 2")
        else:
            out.append(x)
    if len(set(out)) != len(out):
        raise ValueError(f"--vary {text!r}: a value is repeated")
    return knob, tuple(out)


def points(varies: list[tuple[Knob, tuple[Value, ...]]]) -> list[Point]:
    """Every combination of the varied values (full factorial), first knob slowest; [()] when none."""
    seen: set[Knob] = set()
    for k, _ in varies:
        if k in seen:
            raise ValueError(f"--vary {k.value} given twice; give all its values once: {k.value}=A,B,C")
        seen.add(k)
    n = math.prod(len(v) for _, v in varies)
    if n > MAX_POINTS:
        raise ValueError(f"--vary: {n:,} points is more than {MAX_POINTS:,}; vary fewer values")
    return [tuple((k.value, v) for (k, _), v in zip(varies, combo, strict=True))
            for combo in itertools.product(*(vals for _, vals in varies))]


def label(point: Point) -> str:
    """'hbm_bw=2,bf16=1' ('base' for the empty point)."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point) or "base"


def with_domain(cluster: ClusterSpec, gpus: int) -> ClusterSpec:
    """The cluster with ``gpus`` GPUs per innermost (NVLink) domain: the same link technology (bandwidth,
    latency, achievable fractions, NVLS) over a larger or smaller switch domain, as NVL72 racks extend an
    8-GPU NVLink node to 72 GPUs. Outer tiers keep their sizes, which must still be multiples of it."""
    inner = cluster.tiers[0]
    if inner.domain_gpus == 0:
        raise ValueError(f"--vary domain: cluster {cluster.name} has one unbounded tier; no NVLink domain to resize")
    tiers = (dataclasses.replace(inner, domain_gpus=gpus), *cluster.tiers[1:])
    try:
        return dataclasses.replace(cluster, tiers=tiers, name=f"{cluster.name}[domain={gpus}]")
    except ValueError as e:
        raise ValueError(f"--vary domain={gpus}: {e}") from None


def _latencies_scaled(spec: ClusterSpec, vals: dict[str, Value]) -> ClusterSpec:
    """The cluster with its innermost / outermost tier's hop latencies x the point's latency factors."""
    tiers = list(spec.tiers)
    for knob, at in ((Knob.NVLINK_LATENCY, 0), (Knob.NET_LATENCY, len(tiers) - 1)):
        f = float(vals.get(knob, 1.0))
        if f == 1.0:
            continue
        if knob is Knob.NET_LATENCY and len(tiers) < 2:
            raise ValueError(f"--vary net_latency: cluster {spec.name} has one link tier; vary nvlink_latency")
        tiers[at] = dataclasses.replace(tiers[at], latency_scale=tiers[at].latency_scale * f)
    return dataclasses.replace(spec, tiers=tuple(tiers)) if tiers != list(spec.tiers) else spec


def check_base(point_knobs: set[str], *, single_gpu: bool) -> None:
    """Refuse knobs a study cannot apply: links on a single-GPU study."""
    if single_gpu:
        bad = sorted(point_knobs & {k.value for k in (*LINK_KNOBS, Knob.CLUSTER)})
        if bad:
            raise ValueError(f"--vary {bad[0]}: a single-GPU study (--gpu without --cluster) has no links; "
                             "give --cluster C --gpus N, or vary hbm_bw, hbm_capacity, bf16, fp8, flops, gpu")


def cluster_for(point: Point, *, cluster: str, gpu: str | None, single_gpu: bool = False) -> ClusterSpec:
    """The ClusterSpec of one point: the base cluster (or the point's), its GPU (--gpu or the point's),
    the GPU's factors (one GPUSpec.scaled call; factors of 1 leave the part as it is, so the per-layer
    pricing cache still applies), then link bandwidths and the domain size."""
    from trainperf.hardware.cluster import get_cluster

    vals = dict(point)
    spec = get_cluster(str(vals.get(Knob.CLUSTER, cluster)))
    part = vals.get(Knob.GPU, gpu)
    if part:
        spec = spec.with_gpu(str(part))
    factors = {GPU_SCALE_KEY[Knob(k)]: float(v) for k, v in point
               if k in GPU_SCALE_KEY and float(v) != 1.0}
    if factors:
        spec = spec.with_gpu(spec.gpu.scaled(**factors))
    links: dict[str, float] = {}
    if float(vals.get(Knob.NVLINK_BW, 1.0)) != 1.0:
        links[spec.tiers[0].name] = float(vals[Knob.NVLINK_BW])
    if float(vals.get(Knob.NET_BW, 1.0)) != 1.0:
        if len(spec.tiers) < 2:
            raise ValueError(f"--vary net_bw: cluster {spec.name} has one link tier; vary nvlink_bw instead")
        outer = spec.tiers[-1].name
        links[outer] = links.get(outer, 1.0) * float(vals[Knob.NET_BW])
    if links:
        spec = spec.with_links_scaled(links)
    spec = _latencies_scaled(spec, vals)
    if Knob.DOMAIN in vals:
        spec = with_domain(spec, int(vals[Knob.DOMAIN]))
    if single_gpu:
        spec = dataclasses.replace(spec, name=f"1x {spec.gpu.name}")
    elif point:
        spec = dataclasses.replace(spec, name=f"{spec.name}[{label(point)}]")
    return spec
