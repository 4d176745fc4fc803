"""Study rows, elasticities and limits (study/sweep.py), on synthetic data and on one real small job."""

import numpy as np
import polars as pl
import pytest

from trainperf.study.knobs import Point
from trainperf.study.sweep import STUDY_SCHEMA, Job, log_slopes, make_tasks, run_point, summarize


def test_log_slopes_recover_known_exponents() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 4.0, size=(40, 3))
    y = 3.0 * x[:, 0] ** -0.7 * x[:, 1] ** 0.0 * x[:, 2] ** -0.2
    assert log_slopes(x, y) == pytest.approx([-0.7, 0.0, -0.2], abs=1e-9)


def test_log_slopes_none_when_undetermined_and_refuses_non_positive() -> None:
    x = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 8.0]])  # second knob is the first doubled: collinear
    assert log_slopes(x, np.array([1.0, 0.5, 0.25])) is None
    with pytest.raises(ValueError, match="positive"):
        log_slopes(np.array([[1.0], [0.0]]), np.array([1.0, 2.0]))


def _rows(times: dict[tuple[float, float], float]) -> pl.DataFrame:
    import orjson

    rows = []
    for (h, n), t in times.items():
        row = dict.fromkeys(STUDY_SCHEMA)
        row.update(workload="w", gpus=8, gbs=8, seq=128, point=f"hbm_bw={h:g},net_bw={n:g}",
                   knobs=orjson.dumps({"hbm_bw": h, "net_bw": n}).decode(), status="ok", step_time_s=t,
                   layout="dp8", limited_by="compute matmul" if h == 1 else "overhead", limited_share=0.5)
        rows.append(row)
    return pl.DataFrame(rows, schema=STUDY_SCHEMA)


def test_summarize_elasticity_most_sensitive_and_base_point() -> None:
    # time ~ hbm_bw^-0.5, insensitive to net_bw
    t = {(h, n): 2.0 * h ** -0.5 for h in (1.0, 2.0, 4.0) for n in (1.0, 2.0)}
    s = summarize(_rows(t)).row(0, named=True)
    assert s["e_hbm_bw"] == pytest.approx(-0.5) and s["e_net_bw"] == 0.0
    assert s["most_sensitive"] == "hbm_bw" and s["base_point"] == "hbm_bw=1,net_bw=1"
    assert s["base_step_s"] == pytest.approx(2.0) and s["limited_by"] == "compute matmul"
    assert (s["points"], s["feasible"]) == (6, 6)


def test_make_tasks_groups_link_points_by_gpu_part() -> None:
    job = Job(workload="llama3.2-1b", gpus=8, gbs=8, seq=128)
    pts: list[Point] = [(("hbm_bw", h), ("net_bw", n)) for h in (1.0, 2.0) for n in (1.0, 2.0, 4.0)]
    tasks = make_tasks([job], pts, cluster="dgx-h100", gpu=None)
    assert len(tasks) == 2 and all(len(t.points) == 3 for t in tasks)
    assert [p for t in tasks for p in t.points] == pts


def test_run_point_real_job_and_a_faster_memory() -> None:
    job = Job(workload="llama3.2-1b", gpus=8, gbs=64, seq=2048)
    base = run_point(job, (), cluster="dgx-h100", gpu=None)
    fast = run_point(job, (("hbm_bw", 4.0), ("bf16", 4.0)), cluster="dgx-h100", gpu=None)
    assert base["status"] == "ok" and fast["status"] == "ok", (base["reason"], fast["reason"])
    assert 0 < fast["step_time_s"] < base["step_time_s"]
    assert base["limited_by"] and 0 < base["limited_share"] <= 1 and base["layout"].count("dp") == 1
    parts = sum(base[k] for k in ("compute_s", "exposed_comm_s", "bubble_s", "optimizer_s", "overhead_s"))
    assert parts == pytest.approx(base["step_time_s"], rel=0.05)


def test_run_point_records_an_error_instead_of_raising() -> None:
    row = run_point(Job(workload="no-such-model", gpus=8, gbs=8, seq=128), (), cluster="dgx-h100", gpu=None)
    assert row["status"] == "error" and "no-such-model" in row["reason"]
