"""The Ray backend on a local Ray instance gives the same table as the in-process backend."""

import pytest

from trainperf.study import run_study
from trainperf.study.backends import Backend

ray = pytest.importorskip("ray")


def test_ray_matches_local_on_a_tiny_study() -> None:
    kw = {"vary": ("hbm_bw=1,2",), "gpus": (8,), "gbs": 64, "seq": 2048}
    local = run_study("llama3.2-1b", backend=Backend.LOCAL, workers=0, **kw)  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    remote = run_study("llama3.2-1b", backend=Backend.RAY, workers=1, progress=lambda d, t: seen.append((d, t)),
                       **kw)  # type: ignore[arg-type]
    assert remote.table.drop("search_s").equals(local.table.drop("search_s"))
    assert seen[-1] == (2, 2) and not ray.is_initialized()
