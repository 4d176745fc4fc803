"""Collective costs on link tiers: alpha-beta model with ring / tree / NVLink SHARP, hierarchical over tiers.

time = latency_terms + bytes_on_the_wire / achievable_busbw. Bus-bandwidth factors follow NCCL's
definition (nccl-tests doc/PERFORMANCE.md): a ring all-reduce moves 2(n-1)/n of the buffer through each
rank's link, all-gather / reduce-scatter / all-to-all (n-1)/n, send/recv 1. Achievable busbw fractions
come from the cluster TOML (cited nccl-tests measurements), never literals here.

A group is described by its size and the rank stride of its members in the global rank order (Megatron
order: tp fastest, then cp, dp/ep, pp): members ``stride`` apart share an NVLink domain while
``stride * size`` fits in it. A group that spans several domains runs hierarchically: inside each domain
over NVLink, across domains over the network with each GPU's own NIC (NCCL's multi-ring channels reach
the per-node NIC aggregate, so the inter-domain step carries 1/n_inner of the buffer per GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from trainperf.hardware.cluster import ClusterSpec, LinkTier


class Collective(StrEnum):
    ALL_REDUCE = "all_reduce"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_GATHER = "all_gather"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"


def bus_factor(kind: Collective | str, n: int) -> float:
    """Bytes through each rank's link per byte of buffer (NCCL busbw factor)."""
    if n <= 1:
        return 0.0
    k = Collective(kind)
    if k is Collective.ALL_REDUCE:
        return 2.0 * (n - 1) / n
    if k is Collective.SEND_RECV:
        return 1.0
    return (n - 1) / n


def _steps(kind: Collective, n: int, algorithm: str) -> float:
    """Latency steps: ring n-1 per phase; tree/NVLS about log2(n) per phase (NCCL tuning model)."""
    if n <= 1:
        return 0.0
    phases = 2.0 if kind is Collective.ALL_REDUCE else 1.0
    if kind is Collective.SEND_RECV:
        return 1.0
    if algorithm == "ring" or kind is not Collective.ALL_REDUCE:
        return phases * (n - 1)  # NCCL runs all-gather / reduce-scatter as rings only (no tree)
    return phases * math.ceil(math.log2(n))


def flat_time(kind: Collective | str, nbytes: float, n: int, tier: LinkTier, algorithm: str = "auto") -> float:
    """Seconds for one collective of ``nbytes`` (the full buffer) over ``n`` ranks on one tier."""
    k = Collective(kind)
    if n <= 1 or nbytes <= 0:
        return 0.0
    algos = [a for a in tier.algorithms if algorithm in ("auto", a)] or ["ring"]
    best = math.inf
    for a in algos:
        if (a == "nvls" or a == "tree") and k is not Collective.ALL_REDUCE:
            continue  # NB: NCCL has tree (and, modeled here, NVLS) algorithms for all-reduce only
        frac = tier.nvls_busbw_fraction if a == "nvls" else tier.fraction(k.value)
        if frac <= 0:
            continue
        bw = tier.bw_GBps * 1e9 * frac
        t = _steps(k, n, a) * tier.latency_us * 1e-6 + nbytes * bus_factor(k, n) / bw
        best = min(best, t)
    return best if best < math.inf else flat_time(k, nbytes, n, tier, "ring")


@dataclass(frozen=True, slots=True)
class Placement:
    """How a group's ranks fall on the tiers: ``inner`` members per innermost domain, ``outer`` domains."""

    inner: int
    outer: int


def placement(size: int, stride: int, cluster: ClusterSpec) -> Placement:
    """Members per innermost domain for a group of ``size`` ranks ``stride`` apart."""
    dom = cluster.nvlink_domain
    inner = max(1, min(size, dom // stride)) if stride <= dom else 1
    while size % inner:
        inner -= 1
    return Placement(inner=inner, outer=size // inner)


def collective_time(kind: Collective | str, nbytes: float, size: int, stride: int, cluster: ClusterSpec,
                    algorithm: str = "auto") -> float:
    """Seconds for one collective over a group of ``size`` ranks, ``stride`` apart in the global order."""
    k = Collective(kind)
    if size <= 1 or nbytes <= 0:
        return 0.0
    pl = placement(size, stride, cluster)
    inner_t, outer_t = cluster.tiers[0], cluster.tier_for_span(cluster.nvlink_domain + 1)
    if pl.outer == 1:
        return flat_time(k, nbytes, size, inner_t, algorithm)
    if pl.inner == 1:
        return flat_time(k, nbytes, size, outer_t, algorithm)
    if k is Collective.ALL_REDUCE:
        # reduce-scatter inside, all-reduce of 1/inner across, all-gather inside
        return (flat_time(Collective.REDUCE_SCATTER, nbytes, pl.inner, inner_t, algorithm)
                + flat_time(Collective.ALL_REDUCE, nbytes / pl.inner, pl.outer, outer_t, algorithm)
                + flat_time(Collective.ALL_GATHER, nbytes, pl.inner, inner_t, algorithm))
    if k in (Collective.ALL_GATHER, Collective.REDUCE_SCATTER):
        # one flat ring through all members: n-1 steps, outer-1 of them cross the network; bandwidth as
        # the two-level split (each GPU's NIC carries 1/inner of the buffer)
        bw_t = (nbytes / pl.inner * bus_factor(k, pl.outer) / (outer_t.bw_GBps * 1e9 * outer_t.fraction(k.value))
                + nbytes * bus_factor(k, pl.inner) / (inner_t.bw_GBps * 1e9 * inner_t.fraction(k.value)))
        lat = ((pl.outer - 1) * outer_t.latency_us + (size - pl.outer) * inner_t.latency_us) * 1e-6
        return bw_t + lat
    if k is Collective.ALL_TO_ALL:
        # intra- and inter-domain parts run concurrently; the slower one sets the time
        remote = nbytes * (size - pl.inner) / size
        local = nbytes * (pl.inner - 1) / size
        t_out = flat_time(k, remote * pl.outer / max(pl.outer - 1, 1), pl.outer, outer_t, algorithm)
        t_in = flat_time(k, local * pl.inner / max(pl.inner - 1, 1), pl.inner, inner_t, algorithm)
        return max(t_out, t_in)
    return flat_time(k, nbytes, 2, outer_t, algorithm)  # send/recv across domains


def domains_hit(experts: int, topk: int, domains: int) -> float:
    """Expected number of the ``domains`` expert groups (experts / domains each) that one token's top-k
    choices touch, for uniform (force-balanced) routing without replacement:
    domains * (1 - C(E - E/D, k) / C(E, k))."""
    if domains <= 1 or experts <= 0 or topk <= 0:
        return float(min(domains, 1))
    per = experts // domains
    miss = math.comb(experts - per, topk) / math.comb(experts, topk) if experts - per >= topk else 0.0
    return domains * (1.0 - miss)


def hierarchical_dispatch_time(nbytes: float, size: int, stride: int, cluster: ClusterSpec, experts: int,
                               topk: int) -> float:
    """One MoE dispatch (or combine) all-to-all of ``nbytes`` (a rank's tokens x top-k x hidden) with a
    topology-aware dispatcher (DeepEP internode kernels, Megatron-Core HybridEP): a token crosses the
    scale-out network once per destination domain that holds any of its experts and is forwarded to the
    experts' GPUs over NVLink there (DeepSeek-V3 tech report sec. 3.2.2; combine reduces inside the domain
    before it goes back). Inside one NVLink domain it is the plain all-to-all."""
    k = Collective.ALL_TO_ALL
    if size <= 1 or nbytes <= 0:
        return 0.0
    pl = placement(size, stride, cluster)
    if pl.outer == 1 or pl.inner == 1:
        return collective_time(k, nbytes, size, stride, cluster)
    inner_t, outer_t = cluster.tiers[0], cluster.tier_for_span(cluster.nvlink_domain + 1)
    per_copy = nbytes / max(topk, 1)
    hit = domains_hit(experts, topk, pl.outer)
    remote = per_copy * hit * (pl.outer - 1) / pl.outer  # distinct remote domains, one copy each
    t_out = remote / (outer_t.bw_GBps * 1e9 * outer_t.fraction(k.value)) + (pl.outer - 1) * outer_t.latency_us * 1e-6
    # NVLink carries the local copies plus the fan-out of the arriving ones: every copy but the own GPU's
    t_in = flat_time(k, nbytes, pl.inner, inner_t)
    return max(t_out, t_in)


def p2p_time(nbytes: float, cross_domain: bool, cluster: ClusterSpec) -> float:
    """One point-to-point transfer (pipeline stage boundary)."""
    tier = cluster.tier_for_span(cluster.nvlink_domain + 1) if cross_domain else cluster.tiers[0]
    return flat_time(Collective.SEND_RECV, nbytes, 2, tier)
