import itertools
import math

import pytest

from trainperf.hardware.cluster import get_cluster
from trainperf.parallel.collectives import Collective, bus_factor, collective_time, flat_time, placement


@pytest.mark.parametrize("n", [2, 4, 8, 64])
def test_ring_all_reduce_bus_factor_closed_form(n: int) -> None:
    assert bus_factor("all_reduce", n) == pytest.approx(2 * (n - 1) / n)
    assert bus_factor("all_gather", n) == pytest.approx((n - 1) / n)
    assert bus_factor("reduce_scatter", n) == pytest.approx((n - 1) / n)
    assert bus_factor("send_recv", n) == 1.0
    assert bus_factor("all_reduce", 1) == 0.0


def test_ring_time_is_nccl_latency_plus_bandwidth() -> None:
    tier = get_cluster("dgx-a100").tiers[0]  # ring/tree only, no NVLS
    n, nbytes = 8, 1e9
    bw = tier.bw_GBps * 1e9 * tier.fraction("all_reduce")
    # NCCL v2.28 tuning.cc, Simple protocol: ring base 8.4 us + 2(n-1) NVLink hops of 3.4 us
    ring = (8.4 + 2 * (n - 1) * 3.4) * 1e-6 + nbytes * 2 * (n - 1) / n / bw
    # large message: bandwidth term dominates, 2(n-1)/n x 1 GB / (300 GB/s x 0.8) = 7.29 ms; Simple wins
    assert ring == pytest.approx(7.29e-3 + 56e-6, rel=1e-2)
    assert flat_time(Collective.ALL_REDUCE, nbytes, n, tier, "ring") == pytest.approx(ring)
    # tree (Simple): base 8.4 + 2 (n-1) x 4.0 us, same bandwidth; auto picks the cheaper
    tree = (8.4 + 2 * (n - 1) * 4.0) * 1e-6 + nbytes * 2 * (n - 1) / n / bw
    assert flat_time(Collective.ALL_REDUCE, nbytes, n, tier) == pytest.approx(min(ring, tree))


def test_small_messages_take_the_low_latency_protocol() -> None:
    c = get_cluster("dgx-h100")
    # 8 bytes on one node: ring LL, 6.6 + 14 x 0.6 us = 15.0 us (tree LL 6.8 + 2 x 7 x 0.6 = 15.2)
    assert collective_time("all_reduce", 8, 8, 1, c) == pytest.approx(15.0e-6, rel=1e-3)
    # two nodes: tree LL, 6.8 + 2 (7 x 0.6 x 1.8 + 1 x 5.0) = 31.9 us, where an alpha of 20 us per network
    # step priced ~80 us (nccl-tests-style measurements: 20-30 us)
    assert collective_time("all_reduce", 8, 16, 1, c) == pytest.approx(31.92e-6, rel=1e-3)
    # one GPU per node over 16 nodes: tree LL, 6.8 + 2 x 4 x 5.0 = 46.8 us
    assert collective_time("all_reduce", 8, 16, 8, c) == pytest.approx(46.8e-6, rel=1e-3)
    # all-gather has only rings: LL, 6.6 + (n - N) x 0.6 x 1.8 + (N - 1) x 2.7 on 2 nodes
    assert collective_time("all_gather", 8, 16, 1, c) == pytest.approx((6.6 + 14 * 1.08 + 2.7) * 1e-6, rel=1e-3)
    # point to point: LL below 16 KiB per peer, base 6.6 + one hop
    assert collective_time("send_recv", 8, 2, 8, c) == pytest.approx((6.6 + 2.7) * 1e-6, rel=1e-3)


def test_latency_grows_with_ranks_and_bandwidth_wins_for_large_messages() -> None:
    c = get_cluster("dgx-h100")
    small = [collective_time("all_gather", 1024, n, 1, c) for n in (8, 64, 512)]
    assert small == sorted(small) and small[-1] > 10 * small[0]  # ring latency is linear in ranks
    # the protocol choice is continuous: time never drops as the message grows
    sizes = [2.0 ** k for k in range(3, 31)]
    times = [collective_time("all_reduce", b, 16, 1, c) for b in sizes]
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_old_latency_key_is_refused_with_the_replacement() -> None:
    from trainperf.hardware.cluster import cluster_from_dict

    raw = {"name": "x", "gpu": "H100-SXM", "gpus_per_node": 8,
           "tier": [{"name": "nvlink", "domain_gpus": 8, "bw_GBps": 450.0, "latency_us": 3.0, "source": "s"}]}
    with pytest.raises(ValueError, match=r"latency_us is no longer read.*link = "):
        cluster_from_dict(raw, where="my.toml")
    raw["tier"][0].pop("latency_us")
    raw["tier"][0]["link"] = "infiniband"
    with pytest.raises(ValueError, match=r"link = 'infiniband'; use one of nvlink, pci, net"):
        cluster_from_dict(raw, where="my.toml")
    raw["tier"][0]["link"] = "nvlink"
    raw["tier"][0]["latency_scale"] = 2.0
    slow = cluster_from_dict(raw, where="my.toml")
    fast = get_cluster("dgx-h100")
    assert collective_time("all_reduce", 8, 8, 1, slow) > collective_time("all_reduce", 8, 8, 1, fast)


def test_nvls_faster_than_ring_on_h100_nvlink() -> None:
    tier = get_cluster("dgx-h100").tiers[0]
    ring = flat_time("all_reduce", 1e9, 8, tier, "ring")
    nvls = flat_time("all_reduce", 1e9, 8, tier, "nvls")
    assert nvls < ring
    assert ring / nvls == pytest.approx(tier.nvls_busbw_fraction / tier.fraction("all_reduce"), rel=1e-2)


def test_placement_and_hierarchical_all_reduce() -> None:
    c = get_cluster("dgx-h100")
    assert placement(8, 1, c).inner == 8 and placement(8, 1, c).outer == 1
    assert placement(16, 8, c).inner == 1  # one member per node: every step crosses the network
    assert placement(64, 2, c).inner == 4 and placement(64, 2, c).outer == 16
    one_node = collective_time("all_reduce", 1e9, 8, 1, c)
    two_nodes = collective_time("all_reduce", 1e9, 16, 1, c)
    strided = collective_time("all_reduce", 1e9, 16, 8, c)
    assert one_node < two_nodes < strided  # the network is slower; 8 NICs beat 1
    # hierarchical bandwidth = RS inside + AR of 1/8 across + AG inside; latency: NCCL's over 16 ranks on 2
    # nodes (1 GB: Simple; tree 8.4 + 2 (7 x 4.0 + 1 x 14) us beats ring 8.4 + 28 x 3.4 + 2 x 14 us)
    inner, outer = c.tiers[0], c.tiers[1]
    bw = (2 * 1e9 * 7 / 8 / (inner.bw_GBps * 1e9 * inner.fraction("reduce_scatter"))
          + 1e9 / 8 * 2 * 1 / 2 / (outer.bw_GBps * 1e9 * outer.fraction("all_reduce")))
    assert two_nodes == pytest.approx(bw + (8.4 + 2 * (7 * 4.0 + 14.0)) * 1e-6)


def test_nvl72_keeps_72_gpus_on_nvlink() -> None:
    c = get_cluster("gb200-nvl72")
    assert placement(64, 1, c).outer == 1
    assert collective_time("all_to_all", 1e8, 64, 1, c) < collective_time(
        "all_to_all", 1e8, 64, 1, get_cluster("dgx-b200"))


def test_trivial_groups_cost_nothing() -> None:
    c = get_cluster("dgx-h100")
    assert collective_time("all_reduce", 1e9, 1, 1, c) == 0.0
    assert collective_time("all_gather", 0.0, 8, 1, c) == 0.0


def test_domains_hit_closed_form() -> None:
    from trainperf.parallel.collectives import domains_hit

    assert domains_hit(8, 1, 2) == pytest.approx(1.0)  # one expert: always exactly one domain
    # top-2 of 4 experts over 2 domains: both in one domain with probability 2 / C(4,2) = 1/3
    assert domains_hit(4, 2, 2) == pytest.approx(2 * (1 - 1 / 6), rel=1e-12)
    assert domains_hit(16, 8, 2) == pytest.approx(2 * (1 - 1 / math.comb(16, 8)))
    assert domains_hit(256, 8, 1) == 1.0


def test_hierarchical_dispatch_sends_one_copy_per_domain() -> None:
    from trainperf.parallel.collectives import hierarchical_dispatch_time

    b200 = get_cluster("dgx-b200")
    nbytes = 4096 * 8 * 7168 * 1.0  # DeepSeek-V3: a rank's tokens x top-8 x hidden in fp8
    # inside one node it is the plain all-to-all
    assert hierarchical_dispatch_time(nbytes, 8, 1, b200, 256, 8) == collective_time(
        Collective.ALL_TO_ALL, nbytes, 8, 1, b200)
    # ep32 over 4 nodes: 8 copies -> ~3.6 distinct domains per token, 2.2x fewer network bytes
    flat = collective_time(Collective.ALL_TO_ALL, nbytes, 32, 1, b200)
    hier = hierarchical_dispatch_time(nbytes, 32, 1, b200, 256, 8)
    assert 1.9 < flat / hier < 2.4
