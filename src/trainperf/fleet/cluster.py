"""The fleet on a cluster: every zoo LLM at its searched best layout, so large models show as training on
N GPUs, not as "does not fit" on one. No torch: the architectures ship with the package
(parallel/data/zoo_arch.toml); a workload the distributed model cannot describe (hybrid state-space,
linear attention) is a row with its reason, never dropped.

The job of each row: ``gpus`` GPUs, a global batch of ``tokens_per_step`` tokens (4 Mi by default, the
order of Llama 3's 4M-16M token batches: Llama 3 paper sec. 3.4.1) at sequence ``seq`` (the model's
positions when fewer), rounded down to whole sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from trainperf.hardware.cluster import ClusterSpec

CLUSTER_FLEET_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "workload": pl.Utf8, "cluster": pl.Utf8, "gpus": pl.Int64, "status": pl.Utf8, "reason": pl.Utf8,
    "layout": pl.Utf8, "tokens_per_s_per_gpu": pl.Float64, "mfu": pl.Float64, "step_time_s": pl.Float64,
    "bubble_share": pl.Float64, "exposed_comm_share": pl.Float64, "top_exposed_comm": pl.Utf8,
    "mem_gib": pl.Float64, "evaluated": pl.Int64, "feasible": pl.Int64,
}
"""One row per workload. status: ok | unsupported (no architecture the distributed model describes) |
infeasible (no layout fits)."""


def cluster_fleet(workloads: Iterable[str], cluster: ClusterSpec, gpus: int, *, seq: int = 8192,
                  tokens_per_step: int = 4 * 2**20, progress: Callable[[str], None] | None = None) -> pl.DataFrame:
    """Each workload's fastest layout on ``gpus`` GPUs of ``cluster`` (CLUSTER_FLEET_SCHEMA), lowest MFU first."""
    from trainperf.optimize.search import search_layouts
    from trainperf.optimize.space import SearchSpace
    from trainperf.parallel.api import model_max_seq
    from trainperf.parallel.zoo_arch import zoo_entry

    rows: list[dict[str, object]] = []
    for name in workloads:
        if progress is not None:
            progress(name)
        row: dict[str, object] = dict.fromkeys(CLUSTER_FLEET_SCHEMA)
        row.update(workload=name, cluster=cluster.name, gpus=gpus)
        entry = zoo_entry(name)
        if entry.arch is None:
            rows.append({**row, "status": "unsupported", "reason": entry.refused})
            continue
        s = min(seq, model_max_seq(name) or seq)
        gbs = max(1, tokens_per_step // s)
        res = search_layouts(entry.arch, SearchSpace(gpus=gpus, gbs=gbs, seq=s, precision="bf16"), cluster, top=1)
        row.update(evaluated=res.evaluated, feasible=res.feasible)
        best = res.best
        if best is None:
            why = ", ".join(f"{k} {v}" for k, v in sorted(res.infeasible.items(), key=lambda kv: -kv[1])[:3])
            rows.append({**row, "status": "infeasible", "reason": f"no layout of gbs {gbs} x seq {s} fits: {why}"})
            continue
        comm = sum(best.exposed_comm_s.values())
        top = max(best.exposed_comm_s.items(), key=lambda kv: kv[1])[0] if best.exposed_comm_s else None
        rows.append({**row, "status": "ok", "reason": "", "layout": best.plan.describe(),
                     "tokens_per_s_per_gpu": best.tokens_per_s_per_gpu, "mfu": best.mfu,
                     "step_time_s": best.step_time_s, "bubble_share": best.bubble_s / best.step_time_s,
                     "exposed_comm_share": comm / best.step_time_s, "top_exposed_comm": top,
                     "mem_gib": best.memory.total / 2**30})
    df = pl.DataFrame(rows, schema=CLUSTER_FLEET_SCHEMA)
    return df.sort([pl.col("status") != "ok", "mfu"], nulls_last=True)
