"""Interval arithmetic on polars tables: union of [start, end) intervals per group, the length of that
union inside windows, and the gaps between intervals. Shared by the temporal breakdown, the overlap
analysis and the opportunities.

Everything is built as lazy queries, so that one analysis runs as a handful of polars calls however many
windows (steps) and ranks it has: each eager call costs 0.1-0.5 ms of fixed overhead, which dominated a
loop over windows. Windows are answered from the union's running length (two as-of lookups per window),
never by clipping every interval to every window.
"""

from __future__ import annotations

import polars as pl

from trainperf.trace.engine import ENGINE

_S, _E = pl.col("s"), pl.col("e")


def union_lazy(iv: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    """Merge overlapping or touching [s, e) intervals within each group -> disjoint intervals (by..., s, e),
    sorted by (by..., s). In start order, an interval opens a new merged one when it starts after every
    earlier end; a merged interval ends at the running max end of its last member."""
    new = (_E.cum_max().shift(1).over(by) < _S).fill_null(True)
    last = pl.col("_new").shift(-1).over(by).fill_null(True)
    return (iv.select(*by, "s", "e").sort([*by, "s"])
            .with_columns(_new=new, _end=_E.cum_max().over(by))
            .select(*(pl.col(b).filter("_new") for b in by), _S.filter("_new"), pl.col("_end").filter(last).alias("e")))


def union(iv: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Merge overlapping [s, e) intervals within each group -> disjoint intervals (by..., s, e)."""
    return union_lazy(iv.lazy(), by).collect(engine=ENGINE)


def union_len_lazy(iv: pl.LazyFrame, by: list[str], name: str) -> pl.LazyFrame:
    return union_lazy(iv, by).group_by(by).agg((_E - _S).sum().alias(name))


def union_len(iv: pl.DataFrame, by: list[str], name: str) -> pl.DataFrame:
    """Total length of the union of intervals per group, as column ``name``."""
    return union_len_lazy(iv.lazy(), by, name).collect(engine=ENGINE)


def covered_lazy(iv: pl.LazyFrame, windows: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Per window (rank, step, w0, w1): the length of the union of the rank's intervals (rank, s, e) inside
    [w0, w1), as column ``name``. C(t), the union's length before t, is the running length up to the
    last union interval starting at or before t, less what of that interval lies after t; the answer is
    C(w1) - C(w0)."""
    u = union_lazy(iv, ["rank"])
    u = u.with_columns(before=(_E - _S).cum_sum().over("rank") - (_E - _S))

    def at(t: str) -> pl.LazyFrame:
        j = windows.select("rank", "step", t).sort(t).join_asof(
            u, left_on=t, right_on="s", by="rank", strategy="backward", check_sortedness=False)
        c = (pl.col("before") + (pl.col(t) - _S).clip(lower_bound=0, upper_bound=_E - _S)).fill_null(0)
        return j.select("rank", "step", c.alias(f"_c_{t}"))

    return (at("w0").join(at("w1"), on=["rank", "step"])
            .select("rank", "step", (pl.col("_c_w1") - pl.col("_c_w0")).alias(name)))


def inner_gaps_lazy(iv: pl.LazyFrame) -> pl.LazyFrame:
    """The gaps [g0, g1) between the disjoint union intervals of each rank (none before the first or after
    the last interval)."""
    u = union_lazy(iv, ["rank"])
    return (u.select("rank", g0=_E, g1=_S.shift(-1).over("rank")).drop_nulls("g1")
            .filter(pl.col("g1") > pl.col("g0")))


def in_windows_lazy(gaps: pl.LazyFrame, windows: pl.LazyFrame, values: list[str]) -> pl.LazyFrame:
    """Per window (rank, step, w0, w1): ``values`` summed over the gaps (rank, g0, ...) that start in
    [w0, w1); running sums at w0 and w1, as in covered_lazy."""
    g = gaps.sort("rank", "g0").select("rank", "g0", *(pl.col(v).cum_sum().over("rank") for v in values))

    def at(t: str) -> pl.LazyFrame:
        # strictly before t: a gap starting at t belongs to the window that starts there
        j = windows.select("rank", "step", t).sort(t).join_asof(
            g, left_on=t, right_on="g0", by="rank", strategy="backward", allow_exact_matches=False,
            check_sortedness=False)
        return j.select("rank", "step", *(pl.col(v).fill_null(0).alias(f"{v}_{t}") for v in values))

    return (at("w0").join(at("w1"), on=["rank", "step"])
            .select("rank", "step", *((pl.col(f"{v}_w1") - pl.col(f"{v}_w0")).alias(v) for v in values)))


def gaps(iv: pl.DataFrame, windows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Idle gaps [g0, g1) inside each window (by..., w0, w1) not covered by any interval."""
    u = union_lazy(iv.lazy(), by)
    u = u.with_columns(g0=_E.shift(1).over(by), g1=_S)
    inner = u.select(*by, "g0", "g1").drop_nulls()
    firsts = u.group_by(by).agg(g1=_S.min(), last=_E.max())
    w = windows.lazy().join(firsts, on=by, how="left")
    head = w.select(*by, g0=pl.col("w0"), g1=pl.coalesce("g1", "w1"))
    tail = w.select(*by, g0=pl.coalesce("last", "w0"), g1=pl.col("w1"))
    out = pl.concat([head, inner, tail]).filter(pl.col("g1") > pl.col("g0"))
    return out.sort([*by, "g0"]).collect(engine=ENGINE)
