"""NCCL's latency model: per-launch base latency plus per-hop latencies by algorithm, protocol and link class.

NCCL picks, per call, the (algorithm, protocol) pair its own cost model predicts fastest (enqueue.cc
topoGetAlgoInfo: argmin of latency + bytes / bandwidth). The protocols trade latency for bandwidth:
LL sends 8 bytes of data with an 8-byte flag (half the link's bandwidth, the lowest latency), LL128
sends 120 of every 128 bytes, Simple uses the whole link with the highest per-step latency
(src/device/primitives.h). All constants below are NCCL v2.28's defaults, src/graph/tuning.cc
(``ncclTunerConstantsDefaults`` and ``ncclTopoTuneModel``), in microseconds:

- base latency per algorithm and protocol (``baseLatencies``);
- hop latency per link class (NVLink, PCIe, network), algorithm and protocol (``hwLatencies``);
- ring latency = base + (steps - inter_steps) x intra_hop + inter_steps x inter_hop, with ring steps
  2(n-1) for all-reduce and n-1 for all-gather / reduce-scatter, inter-node steps 2(N-1) and N-1;
- tree all-reduce latency = base + 2 ((n/N - 1) x intra_hop + floor(log2 N) x inter_hop);
- NVLS (NVLink SHARP) all-reduce latency = the NVLS hop (+ the NVLS-tree network hop across nodes);
- LL's intra-node hop x 1.8 when the group spans nodes; LL bandwidth x 0.5, LL128 x 0.92.

NCCL runs point-to-point transfers (send/recv, all-to-all) with LL up to NCCL_P2P_LL_THRESHOLD bytes per
peer (default 16384, NCCL environment-variable docs) and Simple above.
"""

from __future__ import annotations

import math
from enum import StrEnum

from trainperf.vocab import LinkClass


class Protocol(StrEnum):
    LL = "ll"
    LL128 = "ll128"
    SIMPLE = "simple"


_P = (Protocol.LL, Protocol.LL128, Protocol.SIMPLE)

# tuning.cc baseLatencies [algorithm][LL, LL128, Simple], us
_BASE_US = {"ring": (6.6, 14.0, 8.4), "tree": (6.8, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0)}
# tuning.cc hwLatencies [link class][algorithm][LL, LL128, Simple], us; "nvls" on the network is NVLS-tree's
_HOP_US = {
    LinkClass.NVLINK: {"ring": (0.6, 1.9, 3.4), "tree": (0.6, 1.25, 4.0), "nvls": (0.0, 0.0, 25.0)},
    LinkClass.PCI: {"ring": (1.0, 2.5, 5.7), "tree": (1.0, 1.9, 4.0), "nvls": (0.0, 0.0, 0.0)},
    LinkClass.NET: {"ring": (2.7, 4.0, 14.0), "tree": (5.0, 8.5, 14.0), "nvls": (0.0, 0.0, 20.9)},
}
_BW_FACTOR = {Protocol.LL: 0.5, Protocol.LL128: 0.92, Protocol.SIMPLE: 1.0}
_LL_INTRA_MULTINODE = 1.8
P2P_LL_THRESHOLD_BYTES = 16384


def bandwidth_factor(proto: Protocol) -> float:
    """Share of the Simple protocol's bus bandwidth the protocol reaches (tuning.cc ncclTopoTuneModel)."""
    return _BW_FACTOR[proto]


def protocols(algo: str, intra: LinkClass) -> tuple[Protocol, ...]:
    """Protocols NCCL enables by default: NVLS runs Simple only; LL128 needs NVLink inside the node
    (tuning.cc: LL128 is enabled only where the intra-node path is NVLink)."""
    if algo == "nvls":
        return (Protocol.SIMPLE,)
    return _P if intra is LinkClass.NVLINK else (Protocol.LL, Protocol.SIMPLE)


def _hop(link: LinkClass, algo: str, proto: Protocol, scale: float) -> float:
    return _HOP_US[link][algo][_P.index(proto)] * scale


def collective_latency_s(kind: str, algo: str, proto: Protocol, n: int, nodes: int, intra: LinkClass,
                         inter: LinkClass, intra_scale: float = 1.0, inter_scale: float = 1.0) -> float:
    """Latency of one all-reduce / all-gather / reduce-scatter over ``n`` ranks on ``nodes`` domains (NCCL's
    nNodes: the NVLink domains the group spans), seconds. ``*_scale`` multiply a tier's hop latencies."""
    if n <= 1:
        return 0.0
    nodes = max(1, min(nodes, n))
    i = _P.index(proto)
    intra_hop = _hop(intra, algo, proto, intra_scale)
    if nodes > 1 and proto is Protocol.LL:
        intra_hop *= _LL_INTRA_MULTINODE
    inter_hop = _hop(inter, algo, proto, inter_scale)
    lat = _BASE_US[algo][i]
    if algo == "nvls":
        lat += intra_hop + (inter_hop if nodes > 1 else 0.0)
    elif algo == "tree":
        lat += 2 * ((n // nodes - 1) * intra_hop + math.floor(math.log2(nodes)) * inter_hop)
    else:
        phases = 2 if kind == "all_reduce" else 1
        steps, inter_steps = phases * (n - 1), phases * (nodes - 1)
        lat += (steps - inter_steps) * intra_hop + inter_steps * inter_hop
    return lat * 1e-6


def p2p_protocol(bytes_per_peer: float) -> Protocol:
    """NCCL's protocol for point-to-point transfers: LL up to NCCL_P2P_LL_THRESHOLD bytes per peer."""
    return Protocol.LL if bytes_per_peer <= P2P_LL_THRESHOLD_BYTES else Protocol.SIMPLE


def p2p_latency_s(peers_intra: int, peers_inter: int, bytes_per_peer: float, intra: LinkClass,
                  inter: LinkClass, intra_scale: float = 1.0, inter_scale: float = 1.0) -> float:
    """Latency of one grouped point-to-point exchange (send/recv, or all-to-all as NCCL runs it: one send and
    one receive per peer in one launch), seconds. Peers inside the domain and across it are served by
    different channels and proxies at the same time, so the slower set of hops sets the latency."""
    if peers_intra + peers_inter <= 0:
        return 0.0
    proto = p2p_protocol(bytes_per_peer)
    lat_in = peers_intra * _hop(intra, "ring", proto, intra_scale)
    lat_out = peers_inter * _hop(inter, "ring", proto, inter_scale)
    return (_BASE_US["ring"][_P.index(proto)] + max(lat_in, lat_out)) * 1e-6
