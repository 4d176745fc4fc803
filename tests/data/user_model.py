"""A user's own model, captured with `trainperf capture tests/data/user_model.py:make_workload`."""

import torch

from trainperf.workloads import Built


def make_workload() -> Built:
    def make_model() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256))

    def make_batch() -> torch.Tensor:
        return torch.randn(64, 256)

    def loss(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return (model(x) - x).pow(2).mean()

    return Built(make_model=make_model, make_batch=make_batch, loss=loss,
                 make_optimizer=lambda ps: torch.optim.AdamW(ps, fused=True),
                 batch=64, seq=None, samples_per_step=64, tokens_per_step=64, unit="sample")
