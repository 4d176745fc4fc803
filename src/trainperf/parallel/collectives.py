"""Collective costs on link tiers: alpha-beta model with ring / tree / NVLink SHARP, hierarchical over tiers.

time = latency + bytes_on_the_wire / (achievable_busbw x protocol factor), minimised over the algorithms and
protocols NCCL would choose from (its tuner takes the same argmin); the latency is NCCL's own model
(parallel/nccl.py: base + per-hop latencies by link class, algorithm and protocol). Bus-bandwidth factors follow NCCL's
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
from trainperf.parallel import nccl
from trainperf.vocab import LinkClass


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


def _busbw(kind: Collective, tier: LinkTier, algo: str) -> float:
    """Achievable bus bandwidth (bytes/s) of ``algo`` on one tier; 0 where the algorithm does not apply (NCCL
    has tree and, modeled here, NVLS algorithms for all-reduce only)."""
    if algo in ("nvls", "tree") and kind is not Collective.ALL_REDUCE:
        return 0.0
    frac = tier.nvls_busbw_fraction if algo == "nvls" else tier.fraction(kind.value)
    return tier.bw_GBps * 1e9 * frac if frac > 0 else 0.0


def _best(kind: Collective, bw_s: dict[str, float], n: int, nodes: int, intra: LinkTier, inter: LinkTier) -> float:
    """The fastest (algorithm, protocol) as NCCL's tuner picks it: latency + bandwidth time / protocol factor."""
    best = math.inf
    for algo, t_bw in bw_s.items():
        for proto in nccl.protocols(algo, intra.link):
            lat = nccl.collective_latency_s(kind.value, algo, proto, n, nodes, intra.link, inter.link,
                                            intra.latency_scale, inter.latency_scale)
            best = min(best, lat + t_bw / nccl.bandwidth_factor(proto))
    return best


def _algos(tier: LinkTier, algorithm: str) -> list[str]:
    return [a for a in tier.algorithms if algorithm in ("auto", a)] or ["ring"]


def _p2p(nbytes_per_peer: float, t_bw: float, peers_intra: int, peers_inter: int, intra: LinkTier,
         inter: LinkTier) -> float:
    proto = nccl.p2p_protocol(nbytes_per_peer)
    lat = nccl.p2p_latency_s(peers_intra, peers_inter, nbytes_per_peer, intra.link, inter.link,
                             intra.latency_scale, inter.latency_scale)
    return lat + t_bw / nccl.bandwidth_factor(proto)


def flat_time(kind: Collective | str, nbytes: float, n: int, tier: LinkTier, algorithm: str = "auto") -> float:
    """Seconds for one collective of ``nbytes`` (the full buffer) over ``n`` ranks on one tier."""
    k = Collective(kind)
    if n <= 1 or nbytes <= 0:
        return 0.0
    nodes = n if tier.link is LinkClass.NET else 1  # on the network tier every member is its own node
    if k in (Collective.ALL_TO_ALL, Collective.SEND_RECV):
        bw = tier.bw_GBps * 1e9 * tier.fraction(k.value)
        peers = 1 if k is Collective.SEND_RECV else n - 1
        per_peer = nbytes if k is Collective.SEND_RECV else nbytes / n
        intra, inter = (0, peers) if nodes > 1 else (peers, 0)
        return _p2p(per_peer, nbytes * bus_factor(k, n) / bw, intra, inter, tier, tier)
    bw_s = {a: nbytes * bus_factor(k, n) / b for a in _algos(tier, algorithm) if (b := _busbw(k, tier, a)) > 0}
    if not bw_s:
        return flat_time(k, nbytes, n, tier, "ring")
    return _best(k, bw_s, n, nodes, tier, tier)


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
    if k is Collective.ALL_TO_ALL:
        # intra- and inter-domain parts run concurrently; the slower one sets the bandwidth time
        bw = {t.name: t.bw_GBps * 1e9 * t.fraction(k.value) for t in (inner_t, outer_t)}
        t_out = nbytes * (size - pl.inner) / size / bw[outer_t.name]
        t_in = nbytes * (pl.inner - 1) / size / bw[inner_t.name]
        return _p2p(nbytes / size, max(t_out, t_in), pl.inner - 1, pl.outer - 1, inner_t, outer_t)
    if k is Collective.SEND_RECV:
        return flat_time(k, nbytes, 2, outer_t, algorithm)  # send/recv across domains
    # Bandwidth: reduce-scatter / all-gather inside each domain, 1/inner of the buffer across (each GPU's own
    # NIC; NCCL's rings reach the node's NIC aggregate). Latency: NCCL's model over n ranks on N domains.
    ring_in = nbytes * bus_factor(k, pl.inner) / _busbw(
        Collective.REDUCE_SCATTER if k is Collective.ALL_REDUCE else k, inner_t, "ring")
    bw_s: dict[str, float] = {}
    for a in _algos(outer_t, algorithm):
        b_out = _busbw(k, outer_t, a)
        if b_out > 0:
            bw_s[a] = ring_in + nbytes / pl.inner * bus_factor(k, pl.outer) / b_out
    return _best(k, bw_s or {"ring": ring_in + nbytes / pl.inner * bus_factor(k, pl.outer)
                             / _busbw(k, outer_t, "ring")}, size, pl.outer, inner_t, outer_t)


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
    t_out = remote / (outer_t.bw_GBps * 1e9 * outer_t.fraction(k.value))
    # NVLink carries the local copies plus the fan-out of the arriving ones: every copy but the own GPU's
    t_in = nbytes * bus_factor(k, pl.inner) / (inner_t.bw_GBps * 1e9 * inner_t.fraction(k.value))
    return _p2p(nbytes / size, max(t_out, t_in), pl.inner - 1, pl.outer - 1, inner_t, outer_t)


def p2p_time(nbytes: float, cross_domain: bool, cluster: ClusterSpec) -> float:
    """One point-to-point transfer (pipeline stage boundary)."""
    tier = cluster.tier_for_span(cluster.nvlink_domain + 1) if cross_domain else cluster.tiers[0]
    return flat_time(Collective.SEND_RECV, nbytes, 2, tier)
