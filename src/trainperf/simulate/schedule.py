"""Pipeline schedules as per-stage orders of work units: the order a stage's compute stream runs forward
(F) and backward (B) passes of (micro-batch, virtual chunk).

1F1B (PipeDream-Flush, Narayanan et al. 2021 sec. 2.2): stage s runs min(p - s - 1, m) warm-up forwards,
then alternates one forward and one backward, then drains the remaining backwards. Interleaved 1F1B (same
paper sec. 2.2.2; Megatron-LM ``forward_backward_pipelining_with_interleaving``): a stage holds v chunks;
forwards go through micro-batches in groups of p per chunk, backwards in the reverse chunk order; warm-up
is (p - s - 1) * 2 + (v - 1) * p units. The closed form of both is parallel/schedule.pipeline_time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    backward: bool
    micro: int
    chunk: int


def _unit(k: int, p: int, v: int, backward: bool) -> Unit:
    chunk = (k // p) % v
    return Unit(backward, (k // (p * v)) * p + k % p, v - 1 - chunk if backward else chunk)


def stage_order(stage: int, p: int, m: int, v: int = 1) -> list[Unit]:
    """Work units of ``stage`` (0-based of ``p``) in the order its compute stream runs them."""
    if not 0 <= stage < p or m < 1 or v < 1:
        raise ValueError(f"stage_order: stage {stage} of p = {p}, m = {m}, v = {v}")
    if v > 1 and m % p:
        raise ValueError(f"interleaved schedule needs micro-batches ({m}) to be a multiple of pp = {p}")
    total = m * v
    if v == 1:
        warm = min(p - stage - 1, m)
        fwd = [Unit(False, i, 0) for i in range(m)]
        bwd = [Unit(True, i, 0) for i in range(m)]
    else:
        warm = min((p - stage - 1) * 2 + (v - 1) * p, total)
        fwd = [_unit(k, p, v, False) for k in range(total)]
        bwd = [_unit(k, p, v, True) for k in range(total)]
    order = fwd[:warm]
    for i in range(total - warm):
        order += [fwd[warm + i], bwd[i]]
    return order + bwd[total - warm:]
