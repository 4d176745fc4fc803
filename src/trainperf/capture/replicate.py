"""Expand a reduced-depth capture to the full model: each captured block's ops are emitted once per full
block it stands for (Repeat.full_to_captured), forward in block order, backward in reverse order.

The result equals a full capture op for op (tests/unit/capture/test_replicate.py checks this on tiny
models), at a fraction of the time: Llama 3 405B's 126 identical layers are captured once.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from trainperf.workloads.registry import Repeat


def expand(ops: pl.DataFrame, repeats: Sequence[Repeat]) -> pl.DataFrame:
    """``ops`` has ``layer`` = global captured block index (stacks in ``repeats`` order). Returns the full
    table with ``layer`` = global full block index and ``idx`` renumbered."""
    if not repeats:
        return ops
    cap_off, full_off = [], []
    co = fo = 0
    for r in repeats:
        cap_off.append(co)
        full_off.append(fo)
        co += max(r.full_to_captured) + 1
        fo += len(r.full_to_captured)
    cap_to_stack = {}
    for si, r in enumerate(repeats):
        for c in range(max(r.full_to_captured) + 1):
            cap_to_stack[cap_off[si] + c] = si

    pieces: list[pl.DataFrame] = []
    for phase in ops["phase"].unique(maintain_order=True).to_list():
        ph = ops.filter(pl.col("phase") == phase)
        layer = ph["layer"].to_list()
        # rows of each stack region: from the first to the last row of any block of that stack
        regions: list[tuple[int, int, int]] = []  # (start, end_exclusive, stack)
        for si in range(len(repeats)):
            pos = [i for i, lyr in enumerate(layer) if lyr >= 0 and cap_to_stack.get(lyr) == si]
            if pos:
                regions.append((pos[0], pos[-1] + 1, si))
        regions.sort()
        cursor = 0
        for start, end, si in regions:
            if start > cursor:
                pieces.append(ph.slice(cursor, start - cursor))
            region = ph.slice(start, end - start)
            r = repeats[si]
            order = range(len(r.full_to_captured))
            if phase == "bwd":
                order = reversed(order)  # type: ignore[assignment]
            for j in order:
                c = cap_off[si] + r.full_to_captured[j]
                block = region.filter(pl.col("layer") == c)
                src, dst = f"{r.module_list}.{r.full_to_captured[j]}", f"{r.module_list}.{j}"
                pieces.append(block.with_columns(
                    pl.lit(full_off[si] + j, dtype=pl.Int32).alias("layer"),
                    pl.when(pl.col("module").str.starts_with(src + ".") | (pl.col("module") == src))
                    .then(pl.lit(dst) + pl.col("module").str.slice(len(src)))
                    .otherwise(pl.col("module")).alias("module"),
                ))
            rest = region.filter((pl.col("layer") < 0) | pl.col("layer").is_in(
                [c for c, s in cap_to_stack.items() if s != si]))
            if rest.height:
                pieces.append(rest)
            cursor = end
        if cursor < ph.height:
            pieces.append(ph.slice(cursor, ph.height - cursor))
    out = pl.concat(pieces)
    return out.with_columns(pl.int_range(0, out.height, dtype=pl.Int64).alias("idx"))


def param_scale(param_numels: dict[str, int], repeats: Sequence[Repeat]) -> tuple[int, float]:
    """Full-model parameter count from a reduced build's named parameters, and full/captured ratio."""
    captured = sum(param_numels.values())
    full = 0
    for name, n in param_numels.items():
        mult = 1
        for r in repeats:
            prefix = r.module_list + "."
            if name.startswith(prefix):
                head = name[len(prefix):].split(".", 1)[0]
                if head.isdigit():
                    mult = sum(1 for c in r.full_to_captured if c == int(head))
                break
        full += n * mult
    return full, (full / captured if captured else 1.0)
