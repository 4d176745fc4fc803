"""The fleet on a cluster: each LLM at its searched best layout; unsupported architectures kept as rows."""

from __future__ import annotations

import pytest

from trainperf.fleet.cluster import cluster_fleet
from trainperf.optimize.search import search_layouts
from trainperf.optimize.space import SearchSpace
from trainperf.parallel.api import resolve_arch, resolve_cluster


def test_rows_are_the_searched_best_layouts() -> None:
    cluster = resolve_cluster("dgx-h100")
    df = cluster_fleet(["llama3.2-1b", "mamba2-2.7b"], cluster, 64, seq=4096, tokens_per_step=2**20)
    ok = df.filter(df["status"] == "ok").row(0, named=True)
    best = search_layouts(resolve_arch("llama3.2-1b"), SearchSpace(gpus=64, gbs=256, seq=4096), cluster, top=1).best
    assert best is not None
    assert ok["layout"] == best.plan.describe()
    assert ok["tokens_per_s_per_gpu"] == pytest.approx(best.tokens_per_s_per_gpu)
    assert 0 <= ok["bubble_share"] < 1 and 0 <= ok["exposed_comm_share"] < 1
    bad = df.filter(df["status"] == "unsupported").row(0, named=True)
    assert bad["workload"] == "mamba2-2.7b" and "softmax-attention" in bad["reason"]
