import dataclasses
from collections.abc import Iterator

import polars as pl
import pytest

from trainperf.fleet import FLEET_SCHEMA, sweep
from trainperf.workloads import registry

UNTRACEABLE = "untraceable-test"


@pytest.fixture(scope="module")
def fleet() -> Iterator[pl.DataFrame]:
    # Every zoo workload now traces on fake tensors; a copy marked untraceable stands in for a user's model
    # that calls data-dependent ops.
    w = dataclasses.replace(registry.get_workload("resnet50"), name=UNTRACEABLE, fake_ok=False,
                            fake_note="calls a data-dependent op (test stand-in)")
    registry._REGISTRY[UNTRACEABLE] = w
    try:
        yield sweep(["llama3.1-8b", "resnet50", UNTRACEABLE], ["H100-SXM", "A100-SXM-80GB"], flavor="tiny")
    finally:
        del registry._REGISTRY[UNTRACEABLE]


def test_one_row_per_workload_and_gpu(fleet: pl.DataFrame) -> None:
    assert dict(fleet.schema) == FLEET_SCHEMA
    assert fleet.height == 6
    assert set(fleet["gpu"]) == {"H100-SXM", "A100-SXM-80GB"}


def test_untraceable_workload_is_reported_not_dropped(fleet: pl.DataFrame) -> None:
    w = fleet.filter(pl.col("workload") == UNTRACEABLE)
    assert w.height == 2 and (w["status"] == "unsupported").all() and w["reason"].str.len_chars().min() > 0


def test_sorted_worst_mfu_first_and_in_range(fleet: pl.DataFrame) -> None:
    ok = fleet.filter(pl.col("status") == "ok")
    assert ok.height == 4
    mfu = ok["mfu"].to_list()
    assert mfu == sorted(mfu)
    assert all(0 < m <= 1 for m in mfu)
    assert fleet["status"].to_list()[-2:] == ["unsupported", "unsupported"]


def test_tiny_steps_are_host_bound_on_a_big_gpu(fleet: pl.DataFrame) -> None:
    """A 2 x 32-token step cannot feed an H100: the launch/host side must dominate."""
    row = fleet.filter((pl.col("workload") == "llama3.1-8b") & (pl.col("gpu") == "H100-SXM")).row(0, named=True)
    assert row["host_bound"] and row["mfu"] < 0.01


def test_unknown_gpu_fails_before_any_capture() -> None:
    with pytest.raises(KeyError, match="unknown GPU"):
        sweep(["llama3.1-8b"], ["H900"])


def test_throughput_counts_the_workloads_unit(fleet: pl.DataFrame) -> None:
    """Vision throughput is samples per second even though the step also records its patch tokens."""
    from trainperf.workloads import get_workload

    for name in ("resnet50", "llama3.1-8b"):
        built = get_workload(name).build("tiny")
        row = fleet.filter((pl.col("workload") == name) & (pl.col("gpu") == "H100-SXM")).row(0, named=True)
        assert row["unit"] == built.unit
        assert row["throughput"] * row["step_time_s"] == pytest.approx(built.units_per_step, rel=1e-9)
