"""Efficiency curves of the single-GPU model: pure, vectorized numpy functions of shapes.

Each returns a fraction in (0, 1] (or a time) and has a closed form that tests pin. The parameters come
from the calibration file (model/data/calibration.toml); peaks come from the GPU spec.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]


def gemm_efficiency(m: F, n: F, k: F, batch: F, *, sm_count: int, tiles: Sequence[Sequence[int]],
                    tile_rel: Sequence[float], k_half: float) -> F:
    """Fraction of the large-GEMM rate a (batch x) m x n x k GEMM reaches.

    For each candidate CTA tile (tm x tn) with relative rate r: tile quantization (m n / padded m n), wave
    quantization (tiles / (waves x SMs)), and split-K when the output has fewer tiles than SMs (K is cut
    into up to SMs / tiles slices of at least 512). The library's best tile wins (NVIDIA Deep Learning
    Performance Guide, 'Matrix Multiplication Background': tile and wave quantization). Per-tile fixed costs
    make short K slower: x K_slice / (K_slice + k_half).
    """
    m, n, k = np.maximum(m, 1.0), np.maximum(n, 1.0), np.maximum(k, 1.0)
    batch = np.maximum(batch, 1.0)
    best = np.zeros_like(m)
    for (tm, tn), rel in zip(tiles, tile_rel, strict=True):
        tiles_m, tiles_n = np.ceil(m / tm), np.ceil(n / tn)
        ntiles = tiles_m * tiles_n * batch
        tile_util = (m * n) / (tiles_m * tm * tiles_n * tn)
        split = np.clip(np.floor(sm_count / ntiles), 1.0, np.maximum(np.floor(k / 512.0), 1.0))
        work = ntiles * split
        wave_util = work / (np.ceil(work / sm_count) * sm_count)
        k_slice = k / split
        eff = rel * tile_util * wave_util * k_slice / (k_slice + k_half)
        best = np.maximum(best, eff)
    return best


def attention_efficiency(batch: F, heads: F, q_len: F, head_dim: F, *, sm_count: int, seq_half: float | F,
                         dim_half: float, block_q: float = 128.0) -> F:
    """Fraction of the flash-attention rate reached by this shape (before the per-family fwd/bwd fraction).

    Short queries fill fewer tiles: q / (q + seq_half). Small head dims do less math per byte of K/V:
    (d / (d + dim_half)) normalized to 1 at d = 128. Wave quantization over batch x heads x q-blocks
    (FlashAttention-2 parallelizes over those, arXiv 2307.08691 section 3.2).
    """
    q = np.maximum(q_len, 1.0)
    d = np.maximum(head_dim, 1.0)
    seq = q / (q + seq_half)
    dim = (d / (d + dim_half)) / (128.0 / (128.0 + dim_half))
    blocks = np.maximum(batch, 1.0) * np.maximum(heads, 1.0) * np.ceil(q / block_q)
    wave = blocks / (np.ceil(blocks / sm_count) * sm_count)
    return np.minimum(seq * np.minimum(dim, 1.0) * wave, 1.0)


def causal_work_fraction(kv_len: F, causal: npt.NDArray[np.bool_], *, tile: float, balance: float = 1.0) -> F:
    """Share of the full (unmasked) attention work a causal kernel does, in time at the non-causal rate:
    (1 + tile / kv) / 2 / balance, at most 1; 1 for non-causal. `balance` is the causal kernel's rate on
    its unmasked work relative to the non-causal kernel at long sequence (diagonal-block masking and the
    uneven work of q-blocks: the last ones run while the SMs of the first are idle). NB: FLOP columns do
    not halve for causal masks (costs/formulas/attention.py)."""
    kv = np.maximum(kv_len, 1.0)
    frac = np.minimum((1.0 + tile / kv) / 2.0 / balance, 1.0)
    return np.where(causal, frac, 1.0)


def power_derate(tdp_W: float, ref_tdp_W: float | None, exponent: float) -> float:
    """Sustained compute-clock factor of a power-capped part: (tdp / ref) ** exponent, at most 1."""
    if not ref_tdp_W:
        return 1.0
    return float(min(1.0, (tdp_W / ref_tdp_W) ** exponent))


def gpu_timeline(host_s: F, gpu_s: F) -> F:
    """End time of each op on a single GPU stream fed by one host thread.

    Op i is issued when the host has spent host_s[0..i]; it starts when issued and when op i-1 is done:
    g_i = max(g_{i-1}, H_i) + d_i. Closed form: g_i = D_i + max_{j<=i} (H_j - D_{j-1}), with H, D the
    cumulative host and GPU times, so the scan is vectorized.
    """
    H = np.cumsum(host_s)
    D = np.cumsum(gpu_s)
    start_slack = np.maximum.accumulate(H - (D - gpu_s))
    return D + np.maximum(start_slack, 0.0)


def conv_passes(n_img: F, p_out: F, hw_in: F, c_out_g: F, c_in_g: F, kk: F) -> dict[str, tuple[F, F, F]]:
    """The implicit GEMMs (m, n, k) of a convolution's three passes, per group, as cuDNN/MIOpen run them
    (NVIDIA Deep Learning Performance Guide, 'Convolutional Layers', convolution-to-GEMM mapping):
    forward M = N·P, N = C_out, K = C_in·R·S; data gradient M = N·H·W, N = C_in, K = C_out·R·S·P/(H·W)
    (a strided conv's input positions see 1/s² of the taps, so M·N·K equals the forward's); weight gradient
    M = C_out, N = C_in·R·S, K = N·P (a long reduction, run split-K)."""
    return {"fprop": (n_img * p_out, c_out_g, c_in_g * kk),
            "dgrad": (n_img * hw_in, c_in_g, c_out_g * kk * p_out / np.maximum(hw_in, 1.0)),
            "wgrad": (c_out_g, c_in_g * kk, n_img * p_out)}


def pad_up(x: F, multiple: float | F) -> F:
    """x rounded up to a multiple (channel padding of tensor-core kernels)."""
    return np.ceil(x / multiple) * multiple


def winograd_gemm_fraction(h: F, w: F) -> F:
    """Multiplies of Winograd F(4x4, 3x3) per direct-convolution multiply: each 4x4 output tile costs 36
    element-wise products per channel pair instead of 16 x 9 (Lavin & Gray 2016, arXiv 1509.09308), and
    partial tiles at the border cost a full tile: 36 ceil(H/4) ceil(W/4) / (9 H W), 1/4 at multiples of 4."""
    h, w = np.maximum(h, 1.0), np.maximum(w, 1.0)
    return 36.0 * np.ceil(h / 4.0) * np.ceil(w / 4.0) / (9.0 * h * w)
