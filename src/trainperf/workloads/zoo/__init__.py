"""Importing this package registers every zoo workload (each module registers its own)."""

from trainperf.workloads.zoo import (  # noqa: F401
    cnn,
    diffusion,
    gnn,
    hybrid,
    linear_attn,
    llm,
    llm2025,
    moe,
    recsys,
    segmentation,
    speech,
    text,
    video,
    vision,
    vlm,
)
