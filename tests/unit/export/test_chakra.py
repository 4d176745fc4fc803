"""Chakra export: every file decoded with the mlc-chakra package's own reader (protolib)."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trainperf.export.chakra import COMM_GROUP_FILE, SYNC_BYTES, group_of, write_chakra
from trainperf.parallel.collectives import Collective
from trainperf.simulate.graph import Comm, StepGraph, Stream, Task, TaskKind
from trainperf.vocab import ParallelAxis, Phase

pb = pytest.importorskip("chakra.schema.protobuf.et_def_pb2")
protolib = pytest.importorskip("chakra.src.third_party.utils.protolib")

TP, DP, PP = 2, 2, 2
RPS = TP * DP


def _read(path: Path) -> tuple[Any, list[Any]]:
    f = protolib.openFileRd(str(path))
    meta = pb.GlobalMetadata()
    assert protolib.decodeMessage(f, meta)
    nodes = []
    while True:
        n = pb.Node()
        if not protolib.decodeMessage(f, n):
            break
        nodes.append(n)
    f.close()
    return meta, nodes


def _attrs(n: Any) -> dict[str, Any]:
    return {a.name: getattr(a, a.WhichOneof("value")) for a in n.attr}


def _hand_graph() -> StepGraph:
    """Two stages (tp=2, dp=2 each): forward with a TP all-gather, activations sent 0 -> 1, backward, the
    gradient sent back 1 -> 0, DP all-reduce, then the optimizer waiting for every stage (cross-stage)."""
    tasks: list[Task] = []

    def add(stage: int, stream: Stream, kind: TaskKind, name: str, deps: tuple[int, ...] = (), *,
            comm: Comm | None = None, phase: Phase = Phase.FWD, flops: float = 0.0, nbytes: float = 0.0,
            posted: int = -1) -> int:
        i = len(tasks)
        tasks.append(Task(id=i, stage=stage, stream=stream, kind=kind, name=name, duration_s=1e-4,
                          category="matmul" if kind is TaskKind.COMPUTE else "communication", phase=phase, micro=0,
                          flops=flops, bytes=nbytes, comm=comm, deps=deps, posted_after=posted))
        return i

    tp = Comm(Collective.ALL_GATHER, 4e6, ParallelAxis.TP, TP, 1)
    dp = Comm(Collective.ALL_REDUCE, 8e6, ParallelAxis.DP, DP, TP)
    f0 = add(0, Stream.COMPUTE, TaskKind.COMPUTE, "layer0.fwd", flops=1e12, nbytes=1e9)
    ag0 = add(0, Stream.TP, TaskKind.COLLECTIVE, "nccl:all_gather@tp", (f0,), comm=tp)
    s0 = add(0, Stream.PP, TaskKind.SEND, "send", (ag0,), comm=Comm(Collective.SEND_RECV, 2e6, ParallelAxis.PP, 2, RPS, 1))
    r1 = add(1, Stream.PP, TaskKind.RECV, "recv", (ag0,), comm=Comm(Collective.SEND_RECV, 2e6, ParallelAxis.PP, 2, RPS, 0))
    f1 = add(1, Stream.COMPUTE, TaskKind.COMPUTE, "layer1.fwd", (r1,), flops=1e12, nbytes=1e9)
    b1 = add(1, Stream.COMPUTE, TaskKind.COMPUTE, "layer1.bwd", (f1,), phase=Phase.BWD, flops=2e12, nbytes=2e9)
    s1 = add(1, Stream.PP, TaskKind.SEND, "send", (b1,), phase=Phase.BWD,
             comm=Comm(Collective.SEND_RECV, 2e6, ParallelAxis.PP, 2, RPS, 0))
    r0 = add(0, Stream.PP, TaskKind.RECV, "recv", (b1,), phase=Phase.BWD, posted=f0,
             comm=Comm(Collective.SEND_RECV, 2e6, ParallelAxis.PP, 2, RPS, 1))
    b0 = add(0, Stream.COMPUTE, TaskKind.COMPUTE, "layer0.bwd", (r0,), phase=Phase.BWD, flops=2e12, nbytes=2e9)
    d0 = add(0, Stream.DP, TaskKind.COLLECTIVE, "nccl:all_reduce@dp", (b0,), phase=Phase.BWD, comm=dp)
    d1 = add(1, Stream.DP, TaskKind.COLLECTIVE, "nccl:all_reduce@dp", (b1,), phase=Phase.BWD, comm=dp)
    for s in range(2):
        add(s, Stream.COMPUTE, TaskKind.COMPUTE, "optimizer.adam", (d0, d1, s0, s1), phase=Phase.OPTIMIZER,
            nbytes=1e8)
    return StepGraph(tasks=tuple(tasks), stages=PP, world_size=PP * RPS, ranks_per_stage=RPS, model="m",
                     layout="tp2 dp2 pp2", gpu="H100", cluster="dgx-h100")


def test_group_of_megatron_order() -> None:
    assert group_of(5, 2, 1) == (4, 5)
    assert group_of(5, 2, 2) == (5, 7)
    assert group_of(6, 2, 4) == (2, 6)
    members = group_of(13, 4, 2)
    assert all(group_of(m, 4, 2) == members for m in members)  # every member agrees


def test_hand_graph_every_rank(tmp_path: Path) -> None:
    g = _hand_graph()
    out = write_chakra(g, tmp_path / "et")
    assert [p.name for p in out.files] == [f"trainperf.{r}.et" for r in range(8)]
    groups = {int(k): tuple(v) for k, v in json.loads((tmp_path / "et" / COMM_GROUP_FILE).read_text()).items()}
    assert groups[1] == tuple(range(8))  # the world, for the cross-stage sync
    for rank, path in enumerate(out.files):
        stage = rank // RPS
        meta, nodes = _read(path)
        assert _attrs(meta)["rank"] == rank
        ids = {n.id for n in nodes}
        assert len(ids) == len(nodes) == out.nodes_per_stage[stage] and _acyclic(nodes)
        for n in nodes:
            assert set(n.data_deps) <= ids, n.name
            assert not _attrs(n)["is_cpu_op"]
        comps = [n for n in nodes if n.type == pb.COMP_NODE]
        for n in comps:
            a = _attrs(n)
            assert a["tensor_size"] >= 1 and n.duration_micros == 100
            if "layer" in n.name:
                assert a["num_ops"] >= 1e12 and a["tensor_size"] >= 1e9
        colls = [n for n in nodes if n.type == pb.COMM_COLL_NODE]
        for n in colls:
            a = _attrs(n)
            members = groups[int(a["pg_name"])]
            assert rank in members
            if "@tp" in n.name:
                assert a["comm_type"] == pb.ALL_GATHER and a["comm_size"] == 4_000_000
                assert members == group_of(rank, TP, 1)
            elif "@dp" in n.name:
                assert a["comm_type"] == pb.ALL_REDUCE and members == group_of(rank, DP, TP)
            else:  # the sync before the optimizer
                assert a["comm_size"] == SYNC_BYTES and members == tuple(range(8))
        opt = next(n for n in comps if n.name.startswith("optimizer"))
        sync = next(n for n in colls if n.name.startswith("sync"))
        assert sync.id in opt.data_deps
        # stage 0: TP all-gather + DP all-reduce + sync; stage 1: DP all-reduce + sync
        assert len(colls) == (3 if stage == 0 else 2)
        sends = [n for n in nodes if n.type == pb.COMM_SEND_NODE]
        recvs = [n for n in nodes if n.type == pb.COMM_RECV_NODE]
        assert len(sends) == len(recvs) == 1
        peer = rank + RPS if stage == 0 else rank - RPS
        assert (_attrs(sends[0])["comm_src"], _attrs(sends[0])["comm_dst"]) == (rank, peer)
        assert (_attrs(recvs[0])["comm_src"], _attrs(recvs[0])["comm_dst"]) == (peer, rank)
        assert _attrs(sends[0])["comm_size"] == 2_000_000


def test_tags_match_across_ranks(tmp_path: Path) -> None:
    out = write_chakra(_hand_graph(), tmp_path)
    sent: dict[tuple[int, int, int], int] = {}
    recv: dict[tuple[int, int, int], int] = {}
    for path in out.files:
        for n in _read(path)[1]:
            a = _attrs(n)
            if n.type in (pb.COMM_SEND_NODE, pb.COMM_RECV_NODE):
                d = sent if n.type == pb.COMM_SEND_NODE else recv
                d[(a["comm_src"], a["comm_dst"], a["comm_tag"])] = d.get((a["comm_src"], a["comm_dst"], a["comm_tag"]), 0) + 1
    assert sent == recv and len(sent) == 8


def test_stream_order_is_a_data_dep(tmp_path: Path) -> None:
    g = _hand_graph()
    _, nodes = _read(write_chakra(g, tmp_path).files[0])
    by_name = {n.name: n for n in nodes}
    # layer0.bwd follows layer0.fwd on the compute stream although its only task dep is the receive
    assert by_name["layer0.fwd mb0"].id in by_name["layer0.bwd mb0"].data_deps
    assert by_name["layer0.fwd mb0"].id in by_name["recv mb0"].data_deps  # posted after layer0.fwd


def test_world_size_limit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="above --max-ranks 4"):
        write_chakra(_hand_graph(), tmp_path, max_ranks=4)


def test_output_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_text("keep")
    with pytest.raises(ValueError, match="is a file"):
        write_chakra(_hand_graph(), f)
    assert f.read_text() == "keep"


def test_missing_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kw: Any) -> Any:
        if name.startswith("chakra"):
            raise ImportError(name)
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ValueError, match=r"pip install 'trainperf\[chakra\]'"):
        write_chakra(_hand_graph(), tmp_path)
    from trainperf.cli import app

    r = CliRunner().invoke(app, ["export", "chakra", "llama3.2-1b", "-o", str(tmp_path / "et")])
    assert r.exit_code != 0 and "pip install 'trainperf[chakra]'" in str(r.exception)
    assert not (tmp_path / "et").exists()


def _acyclic(nodes: list[Any]) -> bool:
    """Kahn's algorithm: a cycle would leave ASTRA-sim waiting forever."""
    indeg = {n.id: len(set(n.data_deps)) for n in nodes}
    children: dict[int, list[int]] = {}
    for n in nodes:
        for d in set(n.data_deps):
            children.setdefault(d, []).append(n.id)
    ready = [i for i, k in indeg.items() if k == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        for c in children.get(i, []):
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    return seen == len(nodes)


@pytest.mark.parametrize("layout", [dict(tp=2, pp=2), dict(tp=2, pp=2, vp=2, gbs=16), dict(tp=2, cp=2, pp=2)],
                         ids=["tp2-pp2-dp2", "interleaved", "cp2"])
def test_real_job(tmp_path: Path, layout: dict[str, int]) -> None:
    from trainperf.parallel.api import plan_from_args
    from trainperf.simulate.build import build_graph

    req = plan_from_args("llama3.2-1b", cluster="dgx-h100", gpus=8, seq=2048, recompute="none", **layout)
    g = build_graph(req.arch, req.plan, req.cluster, steps=2)
    out = write_chakra(g, tmp_path)
    assert len(out.files) == 8
    groups = json.loads(out.comm_groups.read_text())
    for rank in (0, 5):
        _, nodes = _read(out.files[rank])
        ids = {n.id for n in nodes}
        assert all(set(n.data_deps) <= ids for n in nodes) and _acyclic(nodes)
        colls = [n for n in nodes if n.type == pb.COMM_COLL_NODE]
        assert all(_attrs(n)["comm_type"] in (pb.ALL_REDUCE, pb.ALL_GATHER, pb.REDUCE_SCATTER, pb.ALL_TO_ALL)
                   and rank in groups[_attrs(n)["pg_name"]] for n in colls)
        tp = [n for n in colls if "@tp" in n.name]
        assert tp and all(groups[_attrs(n)["pg_name"]] == list(group_of(rank, 2, 1)) for n in tp)
        if layout.get("cp"):
            cp = [n for n in colls if "@cp" in n.name]
            assert cp and all(groups[_attrs(n)["pg_name"]] == list(group_of(rank, 2, 2)) for n in cp)
        assert any(n.type == pb.COMM_SEND_NODE for n in nodes) and any(n.type == pb.COMM_RECV_NODE for n in nodes)
        comps = [n for n in nodes if n.type == pb.COMP_NODE and ".fwd" in n.name]
        assert comps and all(_attrs(n)["num_ops"] > 0 and _attrs(n)["tensor_size"] > 1 for n in comps)


def test_cli(tmp_path: Path) -> None:
    from trainperf.cli import app

    r = CliRunner().invoke(app, ["export", "chakra", "llama3.2-1b", "--gpus", "8", "--tp", "2", "--pp", "2",
                                 "--seq", "2048", "-o", str(tmp_path / "et")])
    assert r.exit_code == 0, r.output
    assert "8 trace files" in r.output and "AstraSim" in r.output
    assert len(list((tmp_path / "et").glob("trainperf.*.et"))) == 8
    f = tmp_path / "file"
    f.write_text("x")
    r = CliRunner().invoke(app, ["export", "chakra", "llama3.2-1b", "-o", str(f)])
    assert r.exit_code != 0 and "is a file" in str(r.exception)
    r = CliRunner().invoke(app, ["export", "chakra", "--help"])
    assert r.exit_code == 0 and "ASTRA-sim" in r.output
