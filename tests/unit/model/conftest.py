"""Fixtures: hand-built OpGraphs (tests/unit/model/model_graphs.py)."""

from __future__ import annotations

from typing import Any

import pytest
from model_graphs import attn, eltwise, gemm, graph

from trainperf.opgraph import OpGraph


@pytest.fixture
def compute_graph() -> OpGraph:
    """A GEMM- and attention-dominated step: large matmuls fwd and bwd, flash attention, some elementwise."""
    rows: list[dict[str, Any]] = []
    for phase in ("fwd", "bwd", "bwd"):
        rows += [gemm(8192, 4096, 4096, phase=phase), gemm(8192, 14336, 4096, phase=phase), eltwise(8192 * 4096, phase=phase)]
    rows += [attn(1, 32, 8192, 128), attn(1, 32, 8192, 128, backward=True)]
    return graph(rows)


@pytest.fixture
def memory_graph() -> OpGraph:
    """A memory-bound step: large elementwise, norm and copy ops only."""
    return graph([eltwise(2**28), eltwise(2**28, category="norm"), eltwise(2**28, category="copy", phase="bwd")])
