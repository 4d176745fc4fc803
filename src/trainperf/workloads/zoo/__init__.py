"""Importing this package registers every zoo workload (each module registers its own)."""

from trainperf.workloads.zoo import (  # noqa: F401
    cnn,
    diffusion,
    gnn,
    llm,
    moe,
    recsys,
    speech,
    text,
    video,
    vision,
)
