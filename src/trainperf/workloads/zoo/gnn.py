"""GraphSAGE on ogbn-products, mini-batch training on sampled neighbourhoods (torch_geometric).

The step runs on a synthetic sampled subgraph with fixed node and edge counts, the shape a NeighborLoader batch has
when no sampled node repeats (the upper bound; real batches deduplicate, so they are smaller and vary per step):
``seeds`` target nodes, each hop k samples ``fanout[k]`` neighbours of every node of hop k-1, and every sampled
edge points from the neighbour to the node that sampled it. Nodes are ordered seeds first, so the loss is the
cross-entropy on the first ``seeds`` outputs. Sizes: the PyG example examples/ogbn_products_sage.py (3 SAGE layers,
hidden 256, fan-out 15-10-5, 1024 seeds, dropout 0.5, Adam lr 0.003) on ogbn-products (100 features, 47 classes,
Hu et al. 2020, arXiv 2005.00687).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainperf.vocab import Domain
from trainperf.workloads.registry import Built, Size, Workload, register_workload

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, kw_only=True)
class SageArch:
    features: int
    hidden: int
    layers: int
    classes: int
    fanout: tuple[int, ...]
    dropout: float = 0.5

    def validate(self, seeds: int) -> None:
        if len(self.fanout) != self.layers:
            raise ValueError(f"graphsage: {len(self.fanout)} fan-outs {self.fanout} for {self.layers} layers; give "
                             f"one per layer")
        if min(self.fanout) < 1:
            raise ValueError(f"graphsage: fan-out {self.fanout} must be >= 1 per hop")
        if seeds < 1:
            raise ValueError(f"graphsage: batch={seeds} seed nodes must be >= 1")

    def hops(self, seeds: int) -> list[int]:
        """Nodes per hop: seeds, then each hop's nodes times the next fan-out."""
        return [seeds * math.prod(self.fanout[:k]) for k in range(len(self.fanout) + 1)]

    def widths(self) -> list[int]:
        return [self.features] + [self.hidden] * (self.layers - 1) + [self.classes]

    def flops_per_step(self, seeds: int) -> float:
        """fwd+bwd model FLOPs of one batch. PyG's GraphSAGE runs every layer on every sampled node (N): per SAGEConv
        layer mean-aggregate the E messages (E·c_in adds), then two linears (lin_l on the mean, lin_r on the node
        itself: 2·N·2·c_in·c_out). Backward: weight gradients everywhere, input gradients for all but the first
        layer (the node features are data, not parameters); the aggregation's backward is a gather of the same
        size."""
        n, e = sum(self.hops(seeds)), sum(self.hops(seeds)[1:])
        total = 0.0
        for i, (c_in, c_out) in enumerate(itertools.pairwise(self.widths())):
            mm = 2.0 * n * 2 * c_in * c_out
            total += mm * (2 if i == 0 else 3) + 2.0 * e * c_in
        return total


def subgraph(a: SageArch, seeds: int) -> tuple[Any, Any]:
    """edge_index (2, E) of the sampled tree: child -> parent, hop by hop (see the module docstring)."""
    import torch

    hops = a.hops(seeds)
    offsets = [0, *itertools.accumulate(hops)]
    src, dst = [], []
    for k, f in enumerate(a.fanout, start=1):
        child = torch.arange(hops[k])
        src.append(offsets[k] + child)
        dst.append(offsets[k - 1] + torch.div(child, f, rounding_mode="floor"))
    return torch.stack([torch.cat(src), torch.cat(dst)]), offsets[-1]


def adam(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam, lr 0.003: the PyG ogbn-products GraphSAGE example."""
    import torch

    return torch.optim.Adam(params, lr=0.003, fused=True)


def sage_builder(full: SageArch, tiny: SageArch) -> Any:
    def build(flavor: str, size: Size, reduced: bool) -> Built:
        a = full if flavor == "full" else tiny
        assert size.batch is not None
        a.validate(size.batch)
        seeds = size.batch
        hops = a.hops(seeds)
        nodes, edges = sum(hops), sum(hops[1:])

        def make_model() -> Any:
            from torch_geometric.nn.models import GraphSAGE

            return GraphSAGE(in_channels=a.features, hidden_channels=a.hidden, num_layers=a.layers,
                             out_channels=a.classes, dropout=a.dropout)

        def make_batch() -> dict[str, Any]:
            import torch

            edge_index, n = subgraph(a, seeds)
            return {"x": torch.randn(n, a.features), "edge_index": edge_index,
                    "y": torch.randint(0, a.classes, (seeds,))}

        def loss(model: Any, batch: dict[str, Any]) -> Any:
            import torch.nn.functional as F

            x = batch["x"].to(next(model.parameters()).dtype)
            out = model(x, batch["edge_index"])[:seeds]
            return F.cross_entropy(out.float(), batch["y"])

        return Built(
            make_model=make_model, make_batch=make_batch, loss=loss, make_optimizer=adam, batch=seeds, seq=None,
            samples_per_step=seeds, tokens_per_step=nodes, unit="sample", model_flops=a.flops_per_step(seeds),
            extra_buffers_note=f"sampled subgraph: {nodes:,} nodes, {edges:,} edges",
        )

    return build


SAGE_PRODUCTS = SageArch(features=100, hidden=256, layers=3, classes=47, fanout=(15, 10, 5))
register_workload(Workload(
    name="graphsage-products", domain=Domain.GNN, library="torch_geometric",
    description="GraphSAGE (mean aggregation) on ogbn-products: 3 layers 100-256-256-47, mini-batches of 1024 seed "
                "nodes sampled with fan-out 15-10-5 (a fixed 937,984-node, 936,960-edge subgraph: the no-repeat "
                "upper bound); cross-entropy on the seeds, Adam",
    source="Hamilton et al. 2017 (arXiv 1706.02216); PyG examples/ogbn_products_sage.py; OGB leaderboard ogbn-products",
    build_fn=sage_builder(SAGE_PRODUCTS, SageArch(features=100, hidden=32, layers=3, classes=47, fanout=(3, 2, 2))),
    canonical={"full": Size(batch=1024), "tiny": Size(batch=8)},
    published_params=206_895,
    published_params_source="OGB ogbn-products leaderboard, GraphSAGE (neighbor sampling): 206,895 parameters",
    train_flops_per_unit=SAGE_PRODUCTS.flops_per_step(1024) / 1024,
    train_flops_source="analytic (SageArch.flops_per_step) per seed node at 1024 seeds, fan-out 15-10-5",
    tags=("torchbench:basic_gnn_sage",),
))
