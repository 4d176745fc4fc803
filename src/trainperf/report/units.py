"""Human-readable numbers: one place for the units every renderer uses."""

from __future__ import annotations


def si(x: float, unit: str = "", base: float = 1000.0) -> str:
    """1.23e12 -> '1.23 T' (+unit)."""
    for prefix, p in (("P", 5), ("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if abs(x) >= base**p:
            return f"{x / base**p:.2f} {prefix}{unit}"
    # below 1000 keep three significant digits: a video DiT trains 0.0125 samples/s, not "0"
    return f"{x:.3g} {unit}".rstrip() if x and abs(x) < 100 else f"{x:.0f} {unit}".rstrip()


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def seconds(x: float) -> str:
    if x >= 1:
        return f"{x:.3f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e6:.1f} us"
