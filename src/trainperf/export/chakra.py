"""A simulated step (simulate/graph.py StepGraph) as MLCommons Chakra execution traces, the workload input
of ASTRA-sim: one ``{prefix}.{rank}.et`` per NPU plus the communicator groups ``comm_group.json``.

Format (the ``mlc-chakra`` package: schema/protobuf/et_def.proto; attribute names and value types as
ASTRA-sim's feeder reads them, chakra et_feeder_node.cpp, and as Chakra's PyTorch converter writes them):
a file is a ``GlobalMetadata`` message then ``Node`` messages, each prefixed by its length as a varint
(third_party/utils/protolib.encodeMessage; protolib.decodeMessage reads them back).

- compute task -> COMP_NODE: ``duration_micros`` (the simulated kernel + host time, for ASTRA-sim's measured
  mode), ``num_ops`` = FLOPs and ``tensor_size`` = HBM bytes read + written (for its roofline mode, which
  prices hardware that does not exist; Chakra's converter leaves both empty).
- collective -> COMM_COLL_NODE: ``comm_type`` (CollectiveCommType), ``comm_size`` = the collective's full
  buffer in bytes, ``pg_name`` = the id of its communicator group in comm_group.json.
- pipeline send / receive -> COMM_SEND_NODE / COMM_RECV_NODE: ``comm_size``, ``comm_src``, ``comm_dst``
  (global ranks) and ``comm_tag`` (one tag per transfer, the same on both ends).

Ranks: the graph has one representative per pipeline stage; every rank of a stage gets the stage's nodes,
with its own communicator groups and pipeline peers. Groups follow the Megatron rank order (tp fastest,
then cp, dp, pp): a group of ``group_size`` ranks ``group_stride`` apart, containing the rank.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainperf.parallel.collectives import Collective
from trainperf.simulate.engine import UNORDERED
from trainperf.simulate.graph import StepGraph, Task, TaskKind

MAX_RANKS = 4096
"""Default refusal above this many ranks: every rank is a file holding its stage's whole step (a 16k-GPU
job of a 100-layer model would be tens of GB of traces and hours of ASTRA-sim start-up)."""
COMM_GROUP_FILE = "comm_group.json"
SYNC_BYTES = 4
"""Cross-stage synchronization (the global gradient-norm all-reduce before the optimizer): one fp32."""
INSTALL = "pip install 'trainperf[chakra]'"


@dataclass(frozen=True, kw_only=True)
class ChakraExport:
    """What write_chakra wrote."""

    files: tuple[Path, ...]
    """``{prefix}.{rank}.et`` for rank 0..world_size-1."""
    comm_groups: Path
    workload: Path
    """The prefix ASTRA-sim's --workload-configuration takes (``DIR/prefix``)."""
    nodes_per_stage: tuple[int, ...]
    groups: int


def require_chakra() -> tuple[Any, Any]:
    """(et_def_pb2, protolib) of the mlc-chakra package, or ValueError naming the install command."""
    try:
        from chakra.schema.protobuf import et_def_pb2
        from chakra.src.third_party.utils import protolib
    except ImportError:
        raise ValueError(f"export chakra needs the Chakra package (mlc-chakra): {INSTALL}") from None
    return et_def_pb2, protolib


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint: the length prefix protolib.encodeMessage writes before each message (nodes are
    framed here because their bytes are assembled from a shared part and a per-rank part, below)."""
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(0x80 | bits)
        else:
            out.append(bits)
            return bytes(out)


def group_of(rank: int, size: int, stride: int) -> tuple[int, ...]:
    """The ``size`` ranks ``stride`` apart that contain ``rank`` (Megatron order: the group of tp ranks has
    stride 1, of cp ranks stride tp, ...): every member computes the same group."""
    base = rank - ((rank // stride) % size) * stride
    return tuple(base + k * stride for k in range(size))


def _check(graph: StepGraph, max_ranks: int) -> None:
    w = graph.world_size
    if graph.stages * graph.ranks_per_stage != w:
        raise ValueError(f"export chakra: {graph.stages} stages x {graph.ranks_per_stage} ranks per stage is not "
                         f"the world size {w}")
    if w > max_ranks:
        raise ValueError(f"export chakra: {w} ranks is above --max-ranks {max_ranks}: ASTRA-sim reads one .et file "
                         f"per NPU, each holding its stage's whole step; raise --max-ranks to write them anyway")


def _ctype(pb: Any, t: Task) -> tuple[int, float]:
    """(CollectiveCommType, comm_size in bytes) of a collective task."""
    c = t.comm
    assert c is not None
    if c.collective is Collective.SEND_RECV:
        # NB: context parallel's ring exchange of K/V (each rank sends its block to the next, g-1 times) is
        # written as the ring all-gather of the g blocks, which moves the same bytes over the same ring;
        # nbytes counts the (g-1) blocks a rank receives, the all-gather buffer is g blocks.
        g = max(c.group_size, 2)
        return pb.ALL_GATHER, c.nbytes * g / (g - 1)
    kinds = {Collective.ALL_REDUCE: pb.ALL_REDUCE, Collective.ALL_GATHER: pb.ALL_GATHER,
             Collective.REDUCE_SCATTER: pb.REDUCE_SCATTER, Collective.ALL_TO_ALL: pb.ALL_TO_ALL}
    return kinds[c.collective], c.nbytes


def _tags(graph: StepGraph) -> dict[int, int]:
    """Task id -> comm_tag, the same on a send and its receive: the k-th send from stage a to stage b of a
    (step, phase, micro-batch) matches the k-th receive on b from a of the same key, in task order."""
    sends: dict[tuple[Any, ...], list[int]] = {}
    recvs: dict[tuple[Any, ...], list[int]] = {}
    for t in graph.tasks:
        if t.kind in (TaskKind.SEND, TaskKind.RECV):
            if t.comm is None or not 0 <= t.comm.peer_stage < graph.stages:
                raise ValueError(f"export chakra: {t.kind.value} task {t.id} ({t.name}) has no peer stage")
            src, dst = (t.stage, t.comm.peer_stage) if t.kind is TaskKind.SEND else (t.comm.peer_stage, t.stage)
            key = (src, dst, t.step, t.phase.value, t.micro)
            (sends if t.kind is TaskKind.SEND else recvs).setdefault(key, []).append(t.id)
    tags: dict[int, int] = {}
    for key in sorted(set(sends) | set(recvs)):
        s, r = sends.get(key, []), recvs.get(key, [])
        if len(s) != len(r):
            raise ValueError(f"export chakra: stage {key[0]} sends {len(s)} and stage {key[1]} receives {len(r)} "
                             f"transfers of step {key[2]} {key[3]} micro-batch {key[4]}: unmatched send/receive")
        for a, b in zip(s, r, strict=True):
            tags[a] = tags[b] = len(tags) // 2
    return tags


@dataclass
class _Template:
    """One node of a stage: its serialized rank-independent part and what each rank adds."""

    base: bytes
    kind: str  # "plain" | "group" | "p2p"
    task: Task | None


def _stage_templates(pb: Any, graph: StepGraph, stage: int, by_id: dict[int, Task], tags: dict[int, int],
                     sync_base: int, world_pg: int) -> list[_Template]:
    """The stage's nodes in task order. Dependencies, all as data_deps because ASTRA-sim's feeder resolves
    only data_deps (Chakra's converter turns its control dependencies into data dependencies for the same
    reason): the task's deps on this stage, the previous task of its stream (CUDA stream order; the
    pipeline stream is full duplex, unordered, as in the event engine), a receive's posting point."""
    attr = pb.AttributeProto
    tasks = [t for t in graph.tasks if t.stage == stage]
    prev: dict[Any, int] = {}
    out: list[_Template] = []
    n_sync = 0
    for t in tasks:
        local = [d for d in t.deps if d in by_id and by_id[d].stage == stage]
        foreign = [d for d in t.deps if d in by_id and by_id[d].stage != stage]
        missing = [d for d in t.deps if d not in by_id]
        if missing:
            raise ValueError(f"export chakra: task {t.id} ({t.name}) depends on unknown task {missing[0]}")
        deps = set(local)
        if t.stream not in UNORDERED and t.stream in prev:
            deps.add(prev[t.stream])
        if t.kind is TaskKind.RECV and t.posted_after in by_id and by_id[t.posted_after].stage == stage:
            deps.add(t.posted_after)
        if foreign and t.kind is not TaskKind.RECV:
            # A wait on other stages' tasks (the optimizer after every stage's gradients: the gradient-norm
            # all-reduce spans every rank). Ranks of a trace meet only in communication, so it becomes a
            # one-float all-reduce over all ranks; a receive's foreign deps are its send's, matched by tag.
            sid = sync_base + n_sync
            n_sync += 1
            sync = pb.Node(id=sid, name=f"sync:all_reduce@world before {t.name}", type=pb.COMM_COLL_NODE,
                           data_deps=sorted(local))
            sync.attr.extend([attr(name="is_cpu_op", bool_val=False),
                              attr(name="comm_type", int64_val=pb.ALL_REDUCE),
                              attr(name="comm_size", int64_val=SYNC_BYTES),
                              attr(name="pg_name", string_val=str(world_pg))])
            out.append(_Template(sync.SerializeToString(), "plain", None))
            deps.add(sid)
        if t.stream not in UNORDERED:
            prev[t.stream] = t.id
        name = t.name if t.micro < 0 else f"{t.name} mb{t.micro}"
        node = pb.Node(id=t.id, name=name, data_deps=sorted(deps), duration_micros=round(t.duration_s * 1e6))
        node.attr.append(attr(name="is_cpu_op", bool_val=False))
        if t.kind is TaskKind.COMPUTE:
            node.type = pb.COMP_NODE
            # tensor_size >= 1: the roofline divides num_ops by it
            node.attr.extend([attr(name="num_ops", int64_val=round(t.flops)),
                              attr(name="tensor_size", uint64_val=max(1, round(t.bytes)))])
            out.append(_Template(node.SerializeToString(), "plain", t))
            continue
        if t.comm is None:
            raise ValueError(f"export chakra: {t.kind.value} task {t.id} ({t.name}) has no Comm")
        if t.kind is TaskKind.COLLECTIVE:
            ctype, size = _ctype(pb, t)
            node.type = pb.COMM_COLL_NODE
            node.attr.extend([attr(name="comm_type", int64_val=ctype), attr(name="comm_size", int64_val=round(size))])
            out.append(_Template(node.SerializeToString(), "group", t))
        else:
            node.type = pb.COMM_SEND_NODE if t.kind is TaskKind.SEND else pb.COMM_RECV_NODE
            node.attr.extend([attr(name="comm_size", int64_val=round(t.comm.nbytes)),
                              attr(name="comm_tag", int32_val=tags[t.id])])
            out.append(_Template(node.SerializeToString(), "p2p", t))
    return out


def _sync_counts(graph: StepGraph, by_id: dict[int, Task]) -> list[int]:
    counts = [0] * graph.stages
    for t in graph.tasks:
        if t.kind is not TaskKind.RECV and any(by_id[d].stage != t.stage for d in t.deps if d in by_id):
            counts[t.stage] += 1
    if len(set(counts)) > 1:
        raise ValueError(f"export chakra: stages wait on other stages a different number of times ({counts}): "
                         "ranks of a Chakra trace synchronize only through matching collectives")
    return counts


def _write(path: Path, chunks: Iterable[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"-o {path.parent}: cannot write {path.name} ({e.strerror or e})") from None


def write_chakra(graph: StepGraph, out_dir: Path, *, prefix: str = "trainperf",
                 max_ranks: int = MAX_RANKS) -> ChakraExport:
    """Write ``out_dir/{prefix}.{rank}.et`` for every global rank and ``out_dir/comm_group.json``
    (communicator group id -> ranks, what ASTRA-sim's --comm-group-configuration reads). ValueError, one
    line, for a world above ``max_ranks``, a graph the format cannot express, or an unwritable folder."""
    pb, protolib = require_chakra()
    _check(graph, max_ranks)
    if not prefix or "/" in prefix or prefix.startswith("."):
        raise ValueError(f"--prefix {prefix!r}: a plain file name prefix, e.g. trainperf")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"-o {out_dir}: is a file; give a folder for the per-rank traces")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"-o {out_dir}: cannot create the folder ({e.strerror or e})") from None
    by_id = {t.id: t for t in graph.tasks}
    if len(by_id) != len(graph.tasks):
        raise ValueError("export chakra: task ids are not unique")
    _sync_counts(graph, by_id)
    tags = _tags(graph)
    w, rps = graph.world_size, graph.ranks_per_stage
    groups: dict[tuple[int, ...], int] = {}

    def gid(members: tuple[int, ...]) -> int:
        return groups.setdefault(members, len(groups) + 1)

    world_pg = gid(tuple(range(w)))
    sync_base = max(by_id, default=-1) + 1
    templates = [_stage_templates(pb, graph, s, by_id, tags, sync_base, world_pg) for s in range(graph.stages)]
    attr = pb.AttributeProto
    pg_bytes: dict[int, bytes] = {}  # group id -> serialized Node holding only the pg_name attribute

    def group_extra(rank: int, t: Task) -> bytes:
        c = t.comm
        assert c is not None
        members = group_of(rank, c.group_size, c.group_stride)
        if members[-1] >= w or c.group_size < 1:
            raise ValueError(f"export chakra: task {t.id} ({t.name}): a group of {c.group_size} ranks {c.group_stride} "
                             f"apart from rank {rank} leaves the world of {w} ranks")
        g = gid(members)
        if g not in pg_bytes:
            pg_bytes[g] = pb.Node(attr=[attr(name="pg_name", string_val=str(g))]).SerializeToString()
        return pg_bytes[g]

    def p2p_extra(rank: int, t: Task) -> bytes:
        c = t.comm
        assert c is not None
        peer = c.peer_stage * rps + (rank - t.stage * rps)
        src, dst = (rank, peer) if t.kind is TaskKind.SEND else (peer, rank)
        return pb.Node(attr=[attr(name="comm_src", int32_val=src),
                             attr(name="comm_dst", int32_val=dst)]).SerializeToString()

    files = []
    for rank in range(w):
        stage = rank // rps
        meta = pb.GlobalMetadata(version="0.0.4", attr=[
            attr(name="schema", string_val="trainperf simulate StepGraph"),
            attr(name="model", string_val=graph.model), attr(name="layout", string_val=graph.layout),
            attr(name="gpu", string_val=graph.gpu), attr(name="cluster", string_val=graph.cluster),
            attr(name="rank", uint64_val=rank), attr(name="world_size", uint64_val=w),
            attr(name="stage", uint64_val=stage), attr(name="steps", uint64_val=graph.steps)])

        def chunks(rank: int = rank, stage: int = stage, meta: Any = meta) -> Iterable[bytes]:
            head = io.BytesIO()
            protolib.encodeMessage(head, meta)
            yield head.getvalue()
            for tp in templates[stage]:
                # protobuf merges concatenated messages (repeated fields append): the rank's attributes
                # follow the shared part without re-serializing the node for every rank
                extra = (b"" if tp.kind == "plain" or tp.task is None else
                         group_extra(rank, tp.task) if tp.kind == "group" else p2p_extra(rank, tp.task))
                yield _varint(len(tp.base) + len(extra)) + tp.base + extra

        path = out_dir / f"{prefix}.{rank}.et"
        _write(path, chunks())
        files.append(path)
    cg = out_dir / COMM_GROUP_FILE
    text = json.dumps({str(i): list(m) for m, i in sorted(groups.items(), key=lambda kv: kv[1])})
    _write(cg, [text.encode()])
    return ChakraExport(files=tuple(files), comm_groups=cg, workload=out_dir / prefix,
                        nodes_per_stage=tuple(len(t) for t in templates), groups=len(groups))
