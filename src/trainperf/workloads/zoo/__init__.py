"""Importing this package registers every zoo workload (each module registers its own)."""

from trainperf.workloads.zoo import (  # noqa: F401
    cnn,
    detection,
    diffusion,
    gnn,
    hybrid,
    hybrid2025,
    linear_attn,
    llm,
    llm2025,
    moe,
    recsys,
    rtdetr,
    segmentation,
    speech,
    text,
    video,
    vision,
    vlm,
    vlm_qwen,
)
