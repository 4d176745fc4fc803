"""The closed vocabularies used everywhere (docs/glossary.md defines each term)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class OpCategory(StrEnum):
    """What kind of work an op (or a GPU kernel) does. Shared by capture, the model and the trace analyzer."""

    MATMUL = "matmul"
    ATTENTION = "attention"
    CONV = "conv"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    EMBEDDING = "embedding"
    OPTIMIZER = "optimizer"
    COPY = "copy"
    COMMUNICATION = "communication"
    OTHER = "other"


class Phase(StrEnum):
    """Where in the training step an op runs."""

    FWD = "fwd"
    BWD = "bwd"
    OPTIMIZER = "optimizer"


class Domain(StrEnum):
    """Workload families of the zoo."""

    LLM = "llm"
    MOE = "moe"
    ENCODER = "encoder"
    ENCDEC = "encdec"
    SPEECH = "speech"
    VISION = "vision"
    VLM = "vision-language"
    CNN = "cnn"
    DIFFUSION = "diffusion"
    RECSYS = "recsys"
    GNN = "gnn"
    CUSTOM = "custom"


class BoundBy(StrEnum):
    """What limits an op's or a category's time (glossary: bound-by)."""

    COMPUTE = "compute"
    MEMORY = "memory"
    LATENCY = "latency"  # kernel floor / launch / host dispatch
    COMMUNICATION = "communication"


E = TypeVar("E", bound=StrEnum)


def choice(cls: type[E], value: str, flag: str, *, extra: tuple[str, ...] = ()) -> E:
    """``cls(value)``, or a ValueError that names the flag and lists every valid choice
    (``--zero 'zero9': choose one of ddp, zero1, zero2, zero3``) instead of Python's bare enum message."""
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join([*(m.value for m in cls), *extra])
        raise ValueError(f"{flag} {value!r}: choose one of {valid}") from None
