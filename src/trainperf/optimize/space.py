"""The layout search space: every parallel layout of one job (model, GPUs, global batch, sequence).

Axes (each a tuple of allowed values; ``None`` = derived from the model and cluster):
tp with sequence parallel, pp, vp (interleaved 1F1B), cp, ep and expert tp (MoE), dp (what is left),
micro-batch, ZeRO stage / FSDP, recompute, precision and TP communication overlap.

Default ranges and why:
- tp: divisors of the heads up to the NVLink domain (Narayanan et al. 2021, "Efficient Large-Scale Language
  Model Training on GPU Clusters", takeaway #1: tensor parallelism up to the GPUs of one server; beyond it
  every layer's all-gather / reduce-scatter crosses the network), capped at 16 (wider TP groups on NVL72
  racks split GEMMs below the sizes that keep tensor cores busy).
- pp: powers of two up to the layers; vp: 1, 2, 3, 4, 6, 8 with pp*vp <= layers (Megatron's interleaved
  schedule needs several layers per chunk; 8 chunks per rank is past where the bubble still shrinks).
- cp: powers of two with at least 1,024 tokens per rank (ring attention hides its K/V exchange only
  under long enough per-rank attention; Liu et al. 2023, Ring Attention).
- mbs: powers of two dividing the per-rank batch; ep: divisors of the expert count; etp: 1 or tp.
- zero: ddp, zero1, zero2, zero3 (FSDP); recompute: none, selective, full.
- precision: bf16; with ``precision="auto"`` also fp8 where the GPU has fp8 tensor cores.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trainperf.hardware.cluster import ClusterSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding

VP_CHOICES = (1, 2, 3, 4, 6, 8)
TP_CAP = 16
MIN_TOKENS_PER_CP_RANK = 1024
MBS_CAP = 16


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    """One job and the layouts to try. Axis tuples restrict an axis; None lets the space derive it."""

    gpus: int
    gbs: int
    seq: int
    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    vp: tuple[int, ...] | None = None
    cp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    etp: tuple[int, ...] | None = None
    """Expert tensor parallel; 0 = same as tp. Default (0, 1) for MoE models."""
    mbs: tuple[int, ...] | None = None
    zero: tuple[Sharding, ...] = tuple(Sharding)
    recompute: tuple[Recompute, ...] = tuple(Recompute)
    precision: str = "bf16"
    """bf16 | fp16 | fp8 | fp4, or auto: bf16 plus fp8 where the GPU has fp8 tensor cores."""
    tp_overlap: tuple[bool, ...] = (False, True)
    base: tuple[tuple[str, Any], ...] = ()
    """Other ParallelPlan fields every candidate shares (fused_kernels, attention, ep_dispatcher...)."""

    def __post_init__(self) -> None:
        for f in ("gpus", "gbs", "seq"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"search: {f} = {v!r} must be an integer >= 1")
        for f in ("tp", "pp", "vp", "cp", "ep", "mbs"):
            vals = getattr(self, f)
            if vals is not None and (not vals or any(not isinstance(v, int) or v < 1 for v in vals)):
                raise ValueError(f"search: {f} = {vals!r} must be integers >= 1")
        if self.etp is not None and (not self.etp or any(v < 0 for v in self.etp)):
            raise ValueError(f"search: etp = {self.etp!r} must be integers >= 0 (0 = same as tp)")
        if not self.zero or not self.recompute or not self.tp_overlap:
            raise ValueError("search: zero, recompute and tp_overlap need at least one value each")
        object.__setattr__(self, "zero", tuple(Sharding(z) for z in self.zero))
        object.__setattr__(self, "recompute", tuple(Recompute(r) for r in self.recompute))


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _pow2_upto(n: int) -> list[int]:
    return [1 << k for k in range(n.bit_length()) if (1 << k) <= n]


def precisions(space: SearchSpace, cluster: ClusterSpec) -> tuple[str, ...]:
    if space.precision != "auto":
        return (space.precision,)
    return ("bf16", "fp8") if cluster.gpu.has_precision("fp8") else ("bf16",)


def axes(arch: TransformerArch, space: SearchSpace, cluster: ClusterSpec) -> dict[str, tuple[Any, ...]]:
    """The values each axis takes for this model and cluster (before combining them)."""
    tp_cap = min(cluster.nvlink_domain, TP_CAP)
    tp = space.tp or tuple(d for d in _divisors(arch.n_heads) if d <= tp_cap and space.gpus % d == 0)
    pp = space.pp or tuple(p for p in _pow2_upto(arch.n_layers) if space.gpus % p == 0)
    cp = space.cp or tuple(c for c in _pow2_upto(space.seq // MIN_TOKENS_PER_CP_RANK or 1)
                           if space.seq % (2 * c) == 0 or c == 1)
    ep = space.ep or ((1,) if not arch.is_moe else tuple(_divisors(arch.moe_experts)))
    etp = space.etp or ((0,) if not arch.is_moe else (0, 1))
    return {"tp": tuple(tp), "pp": tuple(pp), "vp": space.vp or VP_CHOICES, "cp": tuple(cp), "ep": tuple(ep),
            "etp": tuple(etp), "mbs": space.mbs or tuple(_pow2_upto(MBS_CAP)), "zero": space.zero,
            "recompute": space.recompute, "precision": precisions(space, cluster), "tp_overlap": space.tp_overlap}


def candidates(arch: TransformerArch, space: SearchSpace, cluster: ClusterSpec
               ) -> Iterator[ParallelPlan | tuple[dict[str, Any], str]]:
    """Every layout of the space that divides the job (gpus = tp*pp*cp*dp, gbs = mbs*dp*micro-batches):
    a ParallelPlan, or (fields, reason) where ParallelPlan refuses the combination (counted, not dropped).
    Combinations that do not multiply out to the job (a tp*pp*cp not dividing the GPUs) are not layouts
    of it and are not candidates."""
    ax = axes(arch, space, cluster)
    base = dict(space.base)
    g, gbs = space.gpus, space.gbs
    for tp, pp, cp in itertools.product(ax["tp"], ax["pp"], ax["cp"]):
        if g % (tp * pp * cp):
            continue
        dp = g // (tp * pp * cp)
        stage = tp * cp * dp
        for mbs in ax["mbs"]:
            if gbs % (mbs * dp):
                continue
            m = gbs // (mbs * dp)
            vps = [v for v in ax["vp"] if v == 1 or (pp > 1 and m % pp == 0 and pp * v <= arch.n_layers)] \
                if pp > 1 else [1]
            for vp, ep, etp in itertools.product(vps, ax["ep"], ax["etp"]):
                if stage % ((etp or tp) * ep) or (etp and etp == tp and etp != 0):
                    continue  # etp == tp is the same layout as etp = 0
                for zero, rc, prec, ov in itertools.product(ax["zero"], ax["recompute"], ax["precision"],
                                                            ax["tp_overlap"] if tp > 1 else (False,)):
                    fields = dict(base, gpus=g, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, vp=vp, mbs=mbs, gbs=gbs,
                                  seq=space.seq, sharding=zero, recompute=rc, precision=prec, tp_comm_overlap=ov)
                    try:
                        yield ParallelPlan(**fields)
                    except ValueError as e:
                        yield fields, str(e)


def neighbours(plan: ParallelPlan) -> list[ParallelPlan]:
    """Layouts one step from ``plan``: one axis doubled or halved (dp takes up the difference), the
    micro-batch doubled or halved, the next ZeRO stage or recompute policy, vp up or down, overlap on.
    Used to name the better neighbour of a user's layout."""
    out: list[ParallelPlan] = []
    moves: list[dict[str, Any]] = []
    for f in ("tp", "pp", "cp"):
        v = getattr(plan, f)
        moves += [{f: v * 2}, {f: v // 2}] if v > 1 else [{f: 2}]
    moves += [{"mbs": plan.mbs * 2}, {"mbs": plan.mbs // 2}, {"vp": plan.vp + 1}, {"vp": plan.vp - 1},
              {"tp_comm_overlap": not plan.tp_comm_overlap}]
    order = list(Sharding)
    i = order.index(plan.sharding)
    moves += [{"sharding": order[j]} for j in (i - 1, i + 1) if 0 <= j < len(order)]
    moves += [{"recompute": r} for r in Recompute if r is not plan.recompute]
    for mv in moves:
        if any(isinstance(v, int) and not isinstance(v, bool) and v < 1 for v in mv.values()):
            continue
        try:
            out.append(dataclasses.replace(plan, **mv, recompute_layers=0))
        except ValueError:
            continue
    return out
