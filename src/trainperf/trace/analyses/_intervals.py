"""Interval arithmetic on polars tables: union length of [start, end) intervals per group, and the
gaps between them. Shared by the temporal breakdown and the overlap analysis."""

from __future__ import annotations

import polars as pl


def union(iv: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Merge overlapping [s, e) intervals within each group -> disjoint intervals (by..., s, e)."""
    if iv.height == 0:
        return iv.select(*by, "s", "e")
    iv = iv.sort([*by, "s"])
    prev_end = pl.col("e").cum_max().shift(1).over(by)
    iv = iv.with_columns(_new=(pl.col("s") > prev_end).fill_null(True))
    iv = iv.with_columns(_grp=pl.col("_new").cast(pl.Int64).cum_sum().over(by))
    return iv.group_by([*by, "_grp"]).agg(pl.col("s").min(), pl.col("e").max()).drop("_grp").sort([*by, "s"])


def union_len(iv: pl.DataFrame, by: list[str], name: str) -> pl.DataFrame:
    """Total length of the union of intervals per group, as column ``name``."""
    u = union(iv, by)
    return u.group_by(by).agg((pl.col("e") - pl.col("s")).sum().alias(name))


def gaps(iv: pl.DataFrame, windows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Idle gaps [g0, g1) inside each window (by..., w0, w1) not covered by any interval."""
    u = union(iv, by)
    u = u.with_columns(g0=pl.col("e").shift(1).over(by), g1=pl.col("s"))
    inner = u.select(*by, "g0", "g1").drop_nulls()
    firsts = u.group_by(by).agg(g1=pl.col("s").min(), last=pl.col("e").max())
    w = windows.join(firsts, on=by, how="left")
    head = w.select(*by, g0=pl.col("w0"), g1=pl.coalesce("g1", "w1"))
    tail = w.select(*by, g0=pl.coalesce("last", "w0"), g1=pl.col("w1"))
    out = pl.concat([head, inner, tail]).filter(pl.col("g1") > pl.col("g0"))
    return out.sort([*by, "g0"])
