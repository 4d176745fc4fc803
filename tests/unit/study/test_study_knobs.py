"""--vary parsing, the point grid and each point's hardware (study/knobs.py)."""

import dataclasses

import pytest

from trainperf.hardware.cluster import get_cluster
from trainperf.study.knobs import Knob, check_base, cluster_for, label, parse_vary, points, with_domain


def test_parse_vary_factors_domain_and_parts() -> None:
    assert parse_vary("hbm_bw=0.5,1,2") == (Knob.HBM_BW, (0.5, 1.0, 2.0))
    assert parse_vary("domain=8,72") == (Knob.DOMAIN, (8, 72))
    assert parse_vary(" gpu = B200, H200") == (Knob.GPU, ("B200", "H200"))


@pytest.mark.parametrize(("text", "match"), [
    ("hbm=2", r"unknown knob; choose one of hbm_bw"),
    ("hbm_bw", r"expected KNOB=V1,V2"),
    ("hbm_bw=1,,2", r"expected KNOB=V1,V2"),
    ("hbm_bw=0", r"hbm_bw=0: must be a factor in \(0, 100\]"),
    ("bf16=-1", r"bf16=-1: must be a factor"),
    ("net_bw=nan", r"net_bw=nan: must be a factor"),
    ("flops=1e9", r"must be a factor"),
    ("domain=4.5", r"domain=4.5: must be a whole number"),
    ("domain=0", r"whole number of GPUs"),
    ("hbm_bw=1,1", r"a value is repeated"),
])
def test_parse_vary_refuses_with_the_value_named(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_vary(text)


def test_points_full_factorial_first_knob_slowest() -> None:
    pts = points([parse_vary("hbm_bw=1,2"), parse_vary("domain=8,72,144")])
    assert len(pts) == 6
    assert pts[0] == (("hbm_bw", 1.0), ("domain", 8)) and pts[3] == (("hbm_bw", 2.0), ("domain", 8))
    assert label(pts[5]) == "hbm_bw=2,domain=144" and label(()) == "base"
    assert points([]) == [()]


def test_points_refuse_a_repeated_knob_and_huge_grids() -> None:
    with pytest.raises(ValueError, match="given twice"):
        points([parse_vary("bf16=1,2"), parse_vary("bf16=3")])
    big = ",".join(str(1 + i / 100) for i in range(50))
    with pytest.raises(ValueError, match="more than 100,000"):
        points([parse_vary(f"{k}={big}") for k in ("hbm_bw", "bf16", "fp8")])


def test_cluster_for_scales_exactly_the_varied_parts() -> None:
    base = get_cluster("dgx-h100")
    spec = cluster_for((("hbm_bw", 2.0), ("net_bw", 0.5), ("domain", 16)), cluster="dgx-h100", gpu=None)
    assert spec.gpu.hbm_bw_GBps == pytest.approx(2 * base.gpu.hbm_bw_GBps)
    assert spec.gpu.hbm_capacity_GB == base.gpu.hbm_capacity_GB
    assert spec.tiers[0].domain_gpus == 16 and spec.tiers[0].bw_GBps == base.tiers[0].bw_GBps
    assert spec.tiers[-1].bw_GBps == pytest.approx(0.5 * base.tiers[-1].bw_GBps)
    assert "hbm_bw=2" in spec.name
    # factors of 1 leave the part untouched (the per-layer pricing cache keys on it)
    same = cluster_for((("bf16", 1.0),), cluster="dgx-h100", gpu=None)
    assert same.gpu == base.gpu and same.tiers == base.tiers


def test_cluster_for_swaps_the_gpu_and_resizes_the_nvlink_domain() -> None:
    spec = cluster_for((("gpu", "B200"),), cluster="dgx-h100", gpu=None)
    assert spec.gpu.name.startswith("B200")
    one_tier = dataclasses.replace(get_cluster("dgx-h100"), tiers=get_cluster("dgx-h100").tiers[-1:])
    with pytest.raises(ValueError, match="one unbounded tier; no NVLink domain"):
        with_domain(one_tier, 72)
    assert with_domain(get_cluster("dgx-h100"), 72).tiers[0].domain_gpus == 72


def test_latency_knobs_scale_the_tier_hop_latencies() -> None:
    from trainperf.parallel.collectives import collective_time

    spec = cluster_for((("net_latency", 4.0), ("nvlink_latency", 2.0)), cluster="dgx-h100", gpu=None)
    assert [t.latency_scale for t in spec.tiers] == [2.0, 4.0]
    base = get_cluster("dgx-h100")
    # an 8-byte all-gather over 2 nodes is pure latency (ring LL: base + 14 NVLink + 1 network hop): the
    # hop part doubles / quadruples, the 6.6 us base does not
    t0, t1 = (collective_time("all_gather", 8, 16, 1, c) for c in (base, spec))
    hops = t0 - 6.6e-6
    assert t1 == pytest.approx(6.6e-6 + 14 * 0.6 * 1.8e-6 * 2 + 2.7e-6 * 4, rel=1e-4) and t1 - 6.6e-6 > 2 * hops
    with pytest.raises(ValueError, match="--vary net_latency: a single-GPU study"):
        check_base({"net_latency"}, single_gpu=True)
