"""Each efficiency piece against its closed form."""

from __future__ import annotations

import numpy as np
import pytest

from trainperf.model.efficiency import (
    attention_efficiency,
    causal_work_fraction,
    gemm_efficiency,
    gpu_timeline,
    power_derate,
)

TILES = [[256, 128], [128, 128]]
REL = [1.0, 0.9]


def _g(m: float, n: float, k: float, b: float = 1.0, sm: int = 132, k_half: float = 0.0) -> float:
    a = np.array
    return float(gemm_efficiency(a([m]), a([n]), a([k]), a([b]), sm_count=sm, tiles=TILES, tile_rel=REL, k_half=k_half)[0])


def test_gemm_full_waves_is_tile_rate_times_k_ramp() -> None:
    # 11 x 12 tiles of 256x128 = 132 = one full wave on 132 SMs
    assert _g(256 * 11, 128 * 12, 4096) == pytest.approx(1.0)
    assert _g(256 * 11, 128 * 12, 4096, k_half=96) == pytest.approx(4096 / (4096 + 96))


def test_gemm_tile_and_wave_quantization() -> None:
    # one extra row: 12 x 12 = 144 tiles of 256x128 -> 2 waves; 128x128: 22 x 12 = 264 tiles (+1 row: 23x12=276)
    m, n = 256 * 11 + 1, 128 * 12
    big = (m * n / (12 * 256 * 12 * 128)) * (144 / 264)
    small = 0.9 * (m * n / (23 * 128 * 12 * 128)) * (276 / 396)
    assert _g(m, n, 4096) == pytest.approx(max(big, small))
    # a single 64x64 output uses one tile on one SM; split-K (K/512 = 8 slices) spreads it over 8 SMs
    assert _g(64, 64, 4096) == pytest.approx(0.9 * (64 * 64 / (128 * 128)) * (8 / 132))  # the smaller tile wins


def test_attention_efficiency_closed_form() -> None:
    a = np.array
    e = attention_efficiency(a([4.0]), a([32.0]), a([2048.0]), a([64.0]), sm_count=132, seq_half=256, dim_half=32)
    blocks = 4 * 32 * 16
    wave = blocks / (np.ceil(blocks / 132) * 132)
    assert float(e[0]) == pytest.approx((2048 / 2304) * (64 / 96) / (128 / 160) * wave)


def test_causal_fraction() -> None:
    f = causal_work_fraction(np.array([1024.0, 1024.0, 64.0]), np.array([True, False, True]), tile=128)
    assert list(f) == pytest.approx([(1 + 128 / 1024) / 2, 1.0, 1.0])
    # the causal kernel's imbalance: its unmasked work runs at `balance` of the non-causal rate
    g = causal_work_fraction(np.array([16384.0]), np.array([True]), tile=128, balance=0.905)
    assert float(g[0]) == pytest.approx((1 + 128 / 16384) / 2 / 0.905)


def test_power_derate() -> None:
    assert power_derate(500, 700, 0.35) == pytest.approx((500 / 700) ** 0.35)
    assert power_derate(700, 700, 0.35) == 1.0 and power_derate(300, None, 0.35) == 1.0


def test_gpu_timeline_matches_the_recurrence() -> None:
    rng = np.random.default_rng(0)
    h, d = rng.exponential(5e-6, 500), rng.exponential(5e-6, 500)
    g, hh, out = 0.0, 0.0, []
    for hi, di in zip(h, d, strict=True):
        hh += hi
        g = max(g, hh) + di
        out.append(g)
    assert gpu_timeline(h, d) == pytest.approx(np.array(out))
