"""The simulator against closed forms, the analytic model, and the trace analyzer (round trip)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.parallel.api import plan_from_args, predict_request
from trainperf.parallel.collectives import Collective
from trainperf.parallel.estimate import PlanEstimate, stage_terms
from trainperf.parallel.schedule import pipeline_time
from trainperf.simulate.api import run_with_interference, simulate
from trainperf.simulate.build import WhatIf, build_graph
from trainperf.simulate.engine import run
from trainperf.simulate.graph import Comm, StepGraph, Stream, Task, TaskKind
from trainperf.simulate.kineto import KERNEL_NAMES, write_traces
from trainperf.simulate.schedule import stage_order
from trainperf.trace.classify import kernel_category
from trainperf.vocab import ParallelAxis, Phase


def _graph(tasks: list[Task], stages: int = 1) -> StepGraph:
    return StepGraph(tasks=tuple(tasks), stages=stages, world_size=stages, ranks_per_stage=1, model="m", layout="l",
                     gpu="g", cluster="c")


def _pipeline(p: int, m: int, v: int, tf: float, tb: float) -> StepGraph:
    """Units of the schedule as single tasks, zero-time transfers: the textbook pipeline."""
    tasks: list[Task] = []
    ids: dict[tuple[int, bool, int], int] = {}
    pending: list[tuple[int, tuple[int, bool, int]]] = []
    for s in range(p):
        for u in stage_order(s, p, m, v):
            vs = u.chunk * p + s
            key = (vs, u.backward, u.micro)
            i = len(tasks)
            ids[key] = i
            tasks.append(Task(id=i, stage=s, stream=Stream.COMPUTE, kind=TaskKind.COMPUTE, name=str(key),
                              duration_s=(tb if u.backward else tf) / v, category="matmul",
                              phase=Phase.BWD if u.backward else Phase.FWD))
            prev = (vs + 1, True, u.micro) if u.backward else (vs - 1, False, u.micro)
            if 0 <= prev[0] < p * v:
                pending.append((i, prev))
            if u.backward and vs == p * v - 1:
                pending.append((i, (vs, False, u.micro)))
    deps: dict[int, list[int]] = {}
    for i, key in pending:
        deps.setdefault(i, []).append(ids[key])
    return _graph([dataclasses.replace(t, deps=tuple(deps.get(t.id, ()))) for t in tasks], p)


@pytest.mark.parametrize(("p", "m", "v"), [(1, 4, 1), (4, 8, 1), (4, 4, 1), (8, 32, 1), (4, 8, 2), (2, 8, 4)])
def test_pipeline_schedule_matches_closed_form(p: int, m: int, v: int) -> None:
    tl = run(_pipeline(p, m, v, tf=1.0, tb=2.0))
    expected, _ = pipeline_time(1.0, 2.0, m, p, v)
    assert tl.end_s.max() == pytest.approx(expected, rel=1e-9)


def test_stage_order_runs_every_unit_once() -> None:
    for s in range(4):
        order = stage_order(s, 4, 8, 2)
        assert len(order) == 2 * 8 * 2
        assert len({(u.backward, u.micro, u.chunk) for u in order}) == len(order)
    assert [u.backward for u in stage_order(0, 4, 8)][:4] == [False, False, False, False]  # 3 warm-up + 1F
    with pytest.raises(ValueError, match="multiple of pp"):
        stage_order(0, 4, 6, 2)


def test_comm_alone_and_fully_hidden() -> None:
    comm = Comm(Collective.ALL_REDUCE, 1e9, ParallelAxis.DP, 8, 1)
    alone = _graph([Task(id=0, stage=0, stream=Stream.DP, kind=TaskKind.COLLECTIVE, name="ar", duration_s=0.004,
                         category="communication", phase=Phase.BWD, comm=comm)])
    assert run(alone).end_s.max() == pytest.approx(0.004)
    hidden = _graph([Task(id=0, stage=0, stream=Stream.COMPUTE, kind=TaskKind.COMPUTE, name="c", duration_s=0.010,
                          category="matmul", phase=Phase.BWD),
                     Task(id=1, stage=0, stream=Stream.DP, kind=TaskKind.COLLECTIVE, name="ar", duration_s=0.004,
                          category="communication", phase=Phase.BWD, comm=comm)])
    assert run(hidden).end_s.max() == pytest.approx(0.010)


@pytest.mark.parametrize(("w", "c"), [(0.010, 0.004), (0.010, 0.016), (0.010, 0.010)])
def test_interference_closed_form(w: float, c: float) -> None:
    """A layer of w seconds of kernels with c seconds of communication beside it: the overlap slows both by
    k per second overlapped, so the step is max(w, c) + k * min(w, c), the analytic model's rule."""
    comm = Comm(Collective.ALL_GATHER, 1e9, ParallelAxis.FSDP, 8, 1)
    g = _graph([Task(id=0, stage=0, stream=Stream.COMPUTE, kind=TaskKind.COMPUTE, name="layer", duration_s=w,
                     category="matmul", phase=Phase.FWD, parts=(("matmul", w),)),
                Task(id=1, stage=0, stream=Stream.DP, kind=TaskKind.COLLECTIVE, name="ag", duration_s=c,
                     category="communication", phase=Phase.FWD, comm=comm)])
    k = 0.5
    assert run_with_interference(g, k).end_s.max() == pytest.approx(max(w, c) + k * min(w, c), rel=1e-9)


def test_interference_slows_kernels_not_host_time() -> None:
    """A compute task of 6 ms kernels and 4 ms host share, 2 ms of communication under it: the kernels run
    k * 2 ms longer; the host share does not stretch."""
    comm = Comm(Collective.ALL_GATHER, 1e9, ParallelAxis.FSDP, 8, 1)
    g = _graph([Task(id=0, stage=0, stream=Stream.COMPUTE, kind=TaskKind.COMPUTE, name="layer", duration_s=0.010,
                     category="matmul", phase=Phase.FWD, parts=(("matmul", 0.006),)),
                Task(id=1, stage=0, stream=Stream.DP, kind=TaskKind.COLLECTIVE, name="ag", duration_s=0.002,
                     category="communication", phase=Phase.FWD, comm=comm)])
    tl = run_with_interference(g, 0.5)
    assert tl.end_s[0] == pytest.approx(0.010 + 0.5 * 0.002, rel=1e-9)
    assert tl.kernel_s[0] == pytest.approx(0.006 + 0.5 * 0.002, rel=1e-9)


def test_cycle_refused() -> None:
    t0 = Task(id=0, stage=0, stream=Stream.COMPUTE, kind=TaskKind.COMPUTE, name="a", duration_s=1, category="matmul",
              phase=Phase.FWD, deps=(1,))
    t1 = dataclasses.replace(t0, id=1, name="b", stream=Stream.TP, deps=(0,))
    with pytest.raises(ValueError, match="deadlocks"):
        run(_graph([t0, t1]))


def test_unoverlapped_ring_all_reduce_is_exposed_whole() -> None:
    req = plan_from_args("llama3.2-1b", gpus=8, gbs=8, seq=2048, zero="ddp", recompute="none")
    plan = dataclasses.replace(req.plan, overlap_grad_reduce=False)
    x = stage_terms(req.arch, plan, req.cluster)
    res = simulate(req.arch, plan, req.cluster, steps=1)
    assert res.stages[0].exposed_comm_s["dp"] == pytest.approx(x.once.dp_reduce, rel=1e-9)


LAYOUTS = [
    ("llama3.1-8b", {"gpus": 64, "tp": 2, "pp": 2, "gbs": 256, "zero": "ddp"}),
    ("llama3.1-70b", {"gpus": 512, "tp": 8, "pp": 4, "vp": 2, "gbs": 512}),
    ("qwen3-30b-a3b", {"gpus": 64, "ep": 8, "pp": 2, "gbs": 256, "seq": 4096, "recompute": "full"}),
    # ZeRO-3 beside exposed TP (both axes' exposed parts block the next layer, one after the other), the
    # prefetched gathers launched with their layer; an MoE layer whose host share is large (eager dispatch)
    ("llama3.1-70b", {"gpus": 256, "tp": 8, "gbs": 512, "seq": 8192, "zero": "zero3", "recompute": "full"}),
    ("qwen3-30b-a3b", {"gpus": 16, "ep": 8, "gbs": 64, "seq": 4096, "recompute": "selective", "zero": "zero1"}),
]


@pytest.mark.parametrize(("model", "kw"), LAYOUTS, ids=[m for m, _ in LAYOUTS])
def test_simulated_step_agrees_with_plan(model: str, kw: dict[str, object]) -> None:
    req = plan_from_args(model, **kw)  # type: ignore[arg-type]
    est = predict_request(req)
    assert isinstance(est, PlanEstimate)
    res = simulate(req.arch, est.plan, req.cluster)
    assert res.step_time_s == pytest.approx(est.step_time_s, rel=0.03)


def test_symmetric_ranks_simulated_once() -> None:
    small = build_graph(*_job(gpus=64))
    large = build_graph(*_job(gpus=8192))
    assert small.stages == large.stages == 2
    assert len(small.tasks) == len(large.tasks)


def _job(gpus: int) -> tuple:  # type: ignore[type-arg]
    req = plan_from_args("llama3.2-1b", gpus=gpus, tp=2, pp=2, gbs=gpus // 4 * 2, seq=2048)
    return req.arch, req.plan, req.cluster


def test_round_trip_through_the_analyzer(tmp_path: Path) -> None:
    from trainperf.trace.api import analyze

    req = plan_from_args("llama3.2-1b", gpus=16, tp=2, pp=2, gbs=32, seq=2048)
    res = simulate(req.arch, req.plan, req.cluster, steps=2)
    files = write_traces(res.timeline, tmp_path, req.cluster.gpu)
    assert [f.name for f in files] == ["rank0.json", "rank8.json"]
    t = analyze(tmp_path).temporal
    for s in res.stages:
        row = t.filter((t["rank"] == s.rank) & (t["step"] == 1)).row(0, named=True)
        assert row["window"] / 1e9 == pytest.approx(s.window_s, rel=1e-3)
        assert row["compute"] / 1e9 == pytest.approx(s.compute_s, rel=1e-3)
        assert row["communication"] / 1e9 == pytest.approx(s.communication_s, rel=1e-3)
        assert row["idle"] / 1e9 == pytest.approx(s.idle_s, rel=1e-3, abs=1e-6)
    from trainperf.trace.api import compare_traces

    ranks = compare_traces(tmp_path, tmp_path).ranks  # measured-vs-predicted table, here a trace against itself
    assert ranks.height == 2 * 4 and set(ranks["delta_ns"].to_list()) == {0}
    assert "rank 8 compute" in ranks["part"].to_list()


def test_kernel_names_classify_back() -> None:
    for cat, name in KERNEL_NAMES.items():
        assert kernel_category(name).value == cat


def test_what_ifs_slow_the_step() -> None:
    arch, plan, cluster = _job(gpus=16)
    base = simulate(arch, plan, cluster).step_time_s
    slow = simulate(arch, plan, cluster, whatif=WhatIf(slow_ranks=((9, 1.2),))).step_time_s
    jit = simulate(arch, plan, cluster, whatif=WhatIf(jitter=0.05, seed=1)).step_time_s
    assert slow > base * 1.05
    assert jit > base
    assert jit == simulate(arch, plan, cluster, whatif=WhatIf(jitter=0.05, seed=1)).step_time_s  # seeded
    weak = simulate(arch, plan, cluster.with_links_scaled({"nvlink": 0.25})).stages[0].exposed_comm_s["tp"]
    assert weak > simulate(arch, plan, cluster).stages[0].exposed_comm_s["tp"] * 2


@pytest.mark.parametrize("args", [
    ["--link", "foo=2"], ["--link", "nvlink"], ["--slow-rank", "x=1"], ["--slow-rank", "99=1.1"], ["--jitter", "2"],
    ["--steps", "0"], ["--tp", "3"],
])
def test_cli_refuses_bad_input_in_one_line(args: list[str]) -> None:
    from trainperf.cli import main  # noqa: F401  (the entry point turns ValueError into one line)

    r = CliRunner().invoke(app, ["simulate", "llama3.2-1b", "--gpus", "16", "--tp", "2", "--seq", "2048", *args])
    assert r.exit_code != 0
    assert isinstance(r.exception, ValueError | SystemExit)


def test_cli_output_refuses_a_file(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("{}")
    r = CliRunner().invoke(app, ["simulate", "llama3.2-1b", "--gpus", "8", "--seq", "2048", "-o", str(f)])
    assert isinstance(r.exception, ValueError) and "is a file" in str(r.exception)
    assert f.read_text() == "{}"


def test_cli_writes_traces_and_json(tmp_path: Path) -> None:
    import orjson

    r = CliRunner().invoke(app, ["simulate", "llama3.2-1b", "--gpus", "16", "--tp", "2", "--pp", "2", "--gbs", "32",
                                 "--seq", "2048", "-o", str(tmp_path / "sim"), "--json"])
    assert r.exit_code == 0, r.output
    d = orjson.loads(r.output)
    assert len(d["files"]) == 2 and d["step_time_s"] > 0
    assert abs(d["step_time_s"] / d["plan_step_time_s"] - 1) < 0.03


def test_validate_engine_sim_predicts_the_same_rows(published_csv: Path) -> None:
    from trainperf.validation.validate import read_rows, validate_rows

    rows = read_rows(published_csv)[:3]
    plan, sim = validate_rows(rows), validate_rows(rows, engine="sim")
    assert sim["status"].to_list() == plan["status"].to_list()
    for a, b in zip(plan["predicted_step_time_s"], sim["predicted_step_time_s"], strict=True):
        assert b == pytest.approx(a, rel=0.03)
    with pytest.raises(ValueError, match="--engine"):
        validate_rows(rows, engine="fast")
