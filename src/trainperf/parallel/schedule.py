"""Pipeline schedules: step time of 1F1B and interleaved 1F1B from per-micro-batch stage times.

1F1B (PipeDream-Flush, Narayanan et al. 2021 sec. 2.2): (m + p - 1)(t_f + t_b); the bubble fraction of
the ideal time is (p - 1)/m, i.e. (p-1)/(m+p-1) of the step. Interleaved with v chunks per rank: the
bubble shrinks to (p - 1)/v stage-times (same paper, sec. 2.2.2).
"""

from __future__ import annotations


def pipeline_time(t_f: float, t_b: float, m: int, p: int, v: int = 1) -> tuple[float, float]:
    """(step time, bubble time) of m micro-batches on p stages, v virtual chunks per stage.
    ``t_f`` / ``t_b``: forward / backward time of one micro-batch through one whole stage (all its chunks)."""
    if m < 1 or p < 1 or v < 1:
        raise ValueError(f"pipeline_time: m = {m}, p = {p}, v = {v} must all be >= 1")
    bubble = (p - 1) / v * (t_f + t_b)
    return m * (t_f + t_b) + bubble, bubble


def bubble_fraction(m: int, p: int, v: int = 1) -> float:
    """Bubble share of the step: (p-1)/v / (m + (p-1)/v)."""
    b = (p - 1) / v
    return b / (m + b)
