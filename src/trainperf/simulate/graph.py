"""The simulated step as a task graph: what runs on which stream of which representative rank, after what.

One representative rank per pipeline stage stands for every rank of that stage: the ranks of a stage
differ only by their tp / cp / dp / ep coordinates, and in a symmetric layout they run the same tasks
at the same times (collectives synchronize them). A task is compute (a layer's forward or backward of
one micro-batch on one virtual chunk, the LM head, the optimizer) or communication (a collective of
one parallel axis, a pipeline send or receive). ``deps`` are task ids that must finish first; tasks of
one stream run in list order (CUDA stream semantics).

This is the one description the event engine (engine.py), the Kineto writer (kineto.py) and the Chakra
exporter (trainperf.export.chakra) read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trainperf.parallel.collectives import Collective
from trainperf.vocab import ParallelAxis, Phase


class Stream(StrEnum):
    """Streams of one rank: compute, and one communication stream per axis (NCCL communicators)."""

    COMPUTE = "compute"
    TP = "comm_tp"
    CP = "comm_cp"
    EP = "comm_ep"
    DP = "comm_dp"
    PP = "comm_pp"


class TaskKind(StrEnum):
    COMPUTE = "compute"
    COLLECTIVE = "collective"
    SEND = "send"
    RECV = "recv"


@dataclass(frozen=True, slots=True)
class Comm:
    """What a communication task moves: the collective, its full buffer in bytes, the group."""

    collective: Collective
    nbytes: float
    axis: ParallelAxis
    group_size: int
    group_stride: int
    """Rank stride of the group's members in the global (Megatron) rank order."""
    peer_stage: int = -1
    """SEND / RECV: the pipeline stage on the other end; -1 for collectives."""


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    stage: int
    """Pipeline stage (= representative rank index) the task runs on."""
    stream: Stream
    kind: TaskKind
    name: str
    """Kernel-like name shown in traces: 'layer3.fwd', 'nccl:all_gather@tp', 'adam'."""
    duration_s: float
    category: str
    """OpCategory value of compute tasks ('matmul', ...), 'communication' for the rest."""
    phase: Phase
    micro: int = -1
    """Micro-batch index; -1 outside the pipeline (optimizer, step-level collectives)."""
    chunk: int = 0
    """Virtual pipeline chunk (interleaved schedule)."""
    layer: int = -1
    """Global layer index; -1 for head, optimizer and step-level collectives."""
    flops: float = 0.0
    bytes: float = 0.0
    """HBM bytes read + written (compute) or bytes on the wire per rank (communication)."""
    comm: Comm | None = None
    deps: tuple[int, ...] = ()
    parts: tuple[tuple[str, float], ...] = ()
    """Compute tasks: (OpCategory value, seconds) of the kernels inside, in order; what remains of
    ``duration_s`` after them is host / framework time in which the GPU waits (per-layer overheads)."""
    step: int = 0
    """Training step (0-based) the task belongs to."""
    posted_after: int = -1
    """RECV: the task after which the receiver posts the receive (its kernel is launched then and spins
    until the data arrives, as NCCL's do: a pipeline bubble shows as receive time); -1 = step 0's start."""


@dataclass(frozen=True, slots=True)
class StepGraph:
    """Every task of one training step on the representative ranks."""

    tasks: tuple[Task, ...]
    stages: int
    world_size: int
    ranks_per_stage: int
    """tp * cp * dp: global rank of stage s's representative is s * ranks_per_stage (Megatron order)."""
    model: str
    layout: str
    """ParallelPlan.describe() of the simulated layout."""
    gpu: str
    cluster: str
    steps: int = 1

    def rank_of(self, stage: int) -> int:
        return stage * self.ranks_per_stage

    def on_stage(self, stage: int) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.stage == stage)
