"""DLRMv2 with a DCNv2 interaction (the MLPerf Training recommendation benchmark), hand-written in plain PyTorch.

torchrec's DLRM_DCN needs fbgemm-gpu; this module re-implements its layout with ``nn.EmbeddingBag``: 26 sum-pooled
multi-hot tables, a bottom MLP on the 13 dense features, a low-rank DCNv2 cross network on the concatenation, a top
MLP and a binary cross-entropy loss. Every size is the MLPerf reference's (mlcommons/training
recommendation_v2/torchrec_dlrm, README and dlrm_main.py arguments):

    --embedding_dim 128 --dense_arch_layer_sizes 512,256,128 --over_arch_layer_sizes 1024,1024,512,256,1
    --interaction_type dcn --dcn_num_layers 3 --dcn_low_rank_dim 512 --adagrad
    --num_embeddings_per_feature 40000000,39060,17295,7424,20265,3,7122,1543,63,40000000,3067956,405282,10,2209,
        11938,155,4,976,14,40000000,40000000,40000000,590152,12973,108,36
    --multi_hot_sizes 3,2,1,2,6,1,1,1,1,7,3,8,1,6,9,5,1,1,1,12,100,27,10,3,1,1

The full tables hold 204.2M rows x 128 = 26.1B parameters (97 GiB in fp32): build them on the meta device only
(make_model refuses a real full-size build).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload

if TYPE_CHECKING:
    import torch

MLPERF_ROWS = (40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209, 11938,
               155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36)
MLPERF_HOTS = (3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1)
DENSE_FEATURES = 13
_REAL_LIMIT = 10**9
"""Parameters above which make_model refuses to build on a real device (the full tables need ~97 GiB)."""


@dataclass(frozen=True, kw_only=True)
class DlrmArch:
    rows: tuple[int, ...]
    hots: tuple[int, ...]
    """Lookups per sample in each table (multi-hot, sum-pooled)."""
    dim: int
    bottom: tuple[int, ...]
    top: tuple[int, ...]
    cross_layers: int
    cross_rank: int

    def validate(self) -> None:
        if len(self.rows) != len(self.hots):
            raise ValueError(f"dlrm: {len(self.rows)} tables but {len(self.hots)} multi-hot sizes")
        if self.bottom[-1] != self.dim:
            raise ValueError(f"dlrm: bottom MLP ends at {self.bottom[-1]}, not the embedding dim {self.dim}; the "
                             f"interaction concatenates both")
        if self.top[-1] != 1:
            raise ValueError(f"dlrm: top MLP ends at {self.top[-1]}; a click logit needs 1")

    @property
    def interaction_dim(self) -> int:
        return self.dim * (len(self.rows) + 1)

    def embedding_params(self) -> int:
        return sum(self.rows) * self.dim

    def dense_matmul_params(self) -> int:
        """Weights of the bottom MLP, the low-rank cross layers (V: d->r, U: r->d) and the top MLP."""
        def mlp(sizes: tuple[int, ...]) -> int:
            return sum(a * b for a, b in itertools.pairwise(sizes))

        d = self.interaction_dim
        return mlp((DENSE_FEATURES, *self.bottom)) + self.cross_layers * 2 * d * self.cross_rank + mlp((d, *self.top))

    def flops_per_sample(self) -> float:
        """fwd+bwd model FLOPs: 6 x dense matmul weights; the sum pooling (one add per looked-up element, fwd; a
        scatter of the same size, bwd) is memory-bound and counted as 2 x lookups x dim."""
        return 6.0 * self.dense_matmul_params() + 2.0 * sum(self.hots) * self.dim


def _build_model(a: DlrmArch) -> Any:
    import torch
    from torch import nn

    def mlp(sizes: tuple[int, ...], last_relu: bool) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(fan_in, fan_out))
            if last_relu or i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class LowRankCrossNet(nn.Module):
        """DCNv2 with low-rank weights (Wang et al. 2021, arXiv 2008.13535, eq. 2; torchrec LowRankCrossNet):
        x_{l+1} = x_0 * (U_l (V_l x_l) + b_l) + x_l."""

        def __init__(self, d: int, rank: int, layers: int) -> None:
            super().__init__()
            self.V = nn.ModuleList(nn.Linear(d, rank, bias=False) for _ in range(layers))
            self.U = nn.ModuleList(nn.Linear(rank, d) for _ in range(layers))

        def forward(self, x0: torch.Tensor) -> torch.Tensor:
            x = x0
            for v, u in zip(self.V, self.U, strict=True):
                x = x0 * u(v(x)) + x
            return x

    class DLRMv2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = nn.ModuleList(nn.EmbeddingBag(r, a.dim, mode="sum") for r in a.rows)
            self.bottom = mlp((DENSE_FEATURES, *a.bottom), last_relu=True)
            self.cross = LowRankCrossNet(a.interaction_dim, a.cross_rank, a.cross_layers)
            self.top = mlp((a.interaction_dim, *a.top), last_relu=False)

        def forward(self, dense: torch.Tensor, sparse: list[torch.Tensor]) -> torch.Tensor:
            pooled = [emb(idx) for emb, idx in zip(self.embeddings, sparse, strict=True)]
            x = torch.cat([self.bottom(dense), *pooled], dim=1)
            return self.top(self.cross(x)).squeeze(1)  # type: ignore[no-any-return]

    return DLRMv2()


def adagrad(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adagrad, lr 0.005: the MLPerf reference (``--adagrad --learning_rate 0.005``). The reference updates the
    tables row-wise inside FBGEMM's fused backward (only the rows a batch touched); here the tables get dense
    gradients and a dense Adagrad update, the form that traces on fake tensors (sparse gradients need a
    data-dependent coalesce), so the captured optimizer bytes are an upper bound."""
    import torch

    return torch.optim.Adagrad(params, lr=0.005, foreach=True)  # foreach: what PyTorch runs on CUDA by default


def dlrm_builder(full: DlrmArch, tiny: DlrmArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None
        a.validate()
        b = size.batch

        def make_model() -> Any:
            import torch

            device = torch.empty(0).device
            n = a.embedding_params()
            if n > _REAL_LIMIT and device.type != "meta":
                raise ValueError(f"dlrmv2-dcnv2: the full embedding tables are {n:,} parameters "
                                 f"({n * torch.get_default_dtype().itemsize / 2**30:.0f} GiB); build them under "
                                 f"torch.device('meta') (capture does), or use flavor 'tiny' on {device.type}")
            return _build_model(a)

        def make_batch() -> dict[str, Any]:
            import torch

            # dense features: log-transformed counts (the reference applies log(x + 1)); sparse: per table a
            # fixed-size multi-hot bag of row ids (the reference's synthetic multi-hot Criteo, uniform)
            return {"dense": torch.randn(b, DENSE_FEATURES),
                    "sparse": [torch.randint(0, r, (b, h)) for r, h in zip(a.rows, a.hots, strict=True)],
                    "labels": torch.randint(0, 2, (b,)).to(torch.get_default_dtype())}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            import torch.nn.functional as F

            dtype = next(model.parameters()).dtype
            logits = model(batch["dense"].to(dtype), batch["sparse"])
            return F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())

        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=adagrad, batch=b, seq=None,
            samples_per_step=b, tokens_per_step=b, unit="sample", model_flops=b * a.flops_per_sample(),
            extra_buffers_note="dense table gradients and Adagrad state (the reference updates only touched rows)",
        )

    return build


DLRMV2 = DlrmArch(rows=MLPERF_ROWS, hots=MLPERF_HOTS, dim=128, bottom=(512, 256, 128), top=(1024, 1024, 512, 256, 1),
                  cross_layers=3, cross_rank=512)
_TINY_DLRM = DlrmArch(rows=tuple(min(r, 1000) for r in MLPERF_ROWS), hots=MLPERF_HOTS, dim=16, bottom=(32, 16),
                      top=(64, 64, 32, 16, 1), cross_layers=3, cross_rank=8)
_REF = "mlcommons/training recommendation_v2/torchrec_dlrm (README, dlrm_main.py arguments)"
register_workload(Workload(
    name="dlrmv2-dcnv2", domain=Domain.RECSYS, library="trainperf",
    description="DLRMv2 (MLPerf): 26 multi-hot sum-pooled tables x 128 (204.2M rows, 214 lookups/sample), bottom MLP "
                "13-512-256-128, 3 low-rank (512) DCNv2 cross layers on 27x128, top MLP 1024-1024-512-256-1, BCE; "
                "Adagrad",
    source=f"{_REF}; Wang et al. 2021 (arXiv 2008.13535) DCN-V2",
    build_fn=dlrm_builder(DLRMV2, _TINY_DLRM),
    # MLPerf DLRMv2 global batch 65536 (the reference's default); 8192 per GPU on 8 GPUs
    canonical={"full": Size(batch=8192), "tiny": Size(batch=32)},
    published_params=float(DLRMV2.embedding_params()),
    published_params_source=f"{_REF}: sum(num_embeddings_per_feature) = 204,184,588 rows x 128 = 26,135,627,264 "
                            f"embedding parameters (+16.0M dense, 0.06%)",
    train_flops_per_unit=DLRMV2.flops_per_sample(),
    train_flops_source="analytic (DlrmArch.flops_per_sample): 6 x 16.0M dense matmul weights + pooling; notes Part 3 "
                       "≈96 MF/sample",
    tags=("mlperf:dlrm_dcnv2",),
))
