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


def test_ring_time_is_alpha_plus_beta() -> None:
    tier = get_cluster("dgx-a100").tiers[0]  # ring/tree only, no NVLS
    n, nbytes = 8, 1e9
    bw = tier.bw_GBps * 1e9 * tier.fraction("all_reduce")
    ring = 2 * (n - 1) * tier.latency_us * 1e-6 + nbytes * 2 * (n - 1) / n / bw
    assert flat_time(Collective.ALL_REDUCE, nbytes, n, tier, "ring") == pytest.approx(ring)
    # large message: bandwidth term dominates, 2(n-1)/n x 1 GB / (300 GB/s x 0.8) = 7.29 ms
    assert ring == pytest.approx(7.29e-3 + 56e-6, rel=1e-2)
    # tree has log2(n) latency steps, same bandwidth: auto picks the cheaper
    tree = 2 * math.ceil(math.log2(n)) * tier.latency_us * 1e-6 + nbytes * 2 * (n - 1) / n / bw
    assert flat_time(Collective.ALL_REDUCE, nbytes, n, tier) == pytest.approx(min(ring, tree))


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
    # hierarchical = RS inside + AR of 1/8 across + AG inside
    inner, outer = c.tiers[0], c.tiers[1]
    expect = (flat_time("reduce_scatter", 1e9, 8, inner) + flat_time("all_reduce", 1e9 / 8, 2, outer)
              + flat_time("all_gather", 1e9, 8, inner))
    assert two_nodes == pytest.approx(expect)


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
