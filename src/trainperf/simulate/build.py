"""A plan's training step as a task graph (graph.py) on one representative rank per pipeline stage.

The terms are the analytic model's (parallel.estimate.stage_terms: per-layer compute of a micro-batch,
exposed and hidden communication per axis, raw once-per-step collectives, optimizer): here they are laid
out as tasks instead of summed, so the schedule, the pipeline transfers and the data-parallel overlap come
out of the dependencies:
- compute units in each stage's schedule order (schedule.py: 1F1B, interleaved 1F1B), layers split over
  virtual stages as Megatron splits them (the first ``L mod (p*v)`` chunks get one more), the LM head and
  loss on the last virtual stage;
- per layer: the exposed part of its TP / CP / EP / FSDP communication blocks the next compute task (the
  axes' exposed parts one after another, as the analytic model adds them); the hidden part runs on the
  axis's stream alongside the layer, launched with it (it slows compute by interference, below);
- pipeline sends / receives between consecutive virtual stages (full duplex: not ordered on a stream);
- data-parallel gradient reduction in one bucket per layer, launched as each layer's backward of the last
  micro-batch finishes (Megatron overlap_grad_reduce; all buckets after the last backward without it);
  ZeRO-1/2 parameter all-gather in one bucket per layer at the start of the step, each layer's first
  forward waiting for its bucket (overlap_param_gather);
- the optimizer on every stage after every stage's gradients are reduced (the gradient-norm all-reduce
  for clipping spans all ranks), then the fixed step overhead (StepModelParams.step_overhead_s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trainperf.hardware.cluster import ClusterSpec
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.collectives import Collective
from trainperf.parallel.estimate import Infeasible, StageTerms, _LayerTimes, evaluate, plan_shard, stage_terms
from trainperf.parallel.opgen import layer_ops
from trainperf.parallel.params import DEFAULT_PARAMS, StepModelParams
from trainperf.parallel.plan import ParallelPlan, Recompute
from trainperf.simulate.graph import Comm, StepGraph, Stream, Task, TaskKind
from trainperf.simulate.schedule import Unit, stage_order
from trainperf.vocab import ParallelAxis, Phase

_STREAM = {ParallelAxis.TP: Stream.TP, ParallelAxis.CP: Stream.CP, ParallelAxis.EP: Stream.EP, ParallelAxis.DP: Stream.DP,
           ParallelAxis.FSDP: Stream.DP, ParallelAxis.PP: Stream.PP}


@dataclass(frozen=True, kw_only=True)
class WhatIf:
    """Perturbations of the symmetric step. ``slow_ranks``: (global rank, compute-time factor); a rank's
    stage synchronizes with it every layer (TP/CP/EP collectives) or at least at the gradient reduction, so
    the stage runs at its pace. ``jitter``: relative standard deviation of each compute kernel's time,
    seeded; a layer synchronized over g ranks (tp*cp) waits for the slowest of g draws."""

    slow_ranks: tuple[tuple[int, float], ...] = ()
    jitter: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for r, f in self.slow_ranks:
            if r < 0 or not 0 < f <= 100:
                raise ValueError(f"--slow-rank {r}={f}: rank must be >= 0 and factor in (0, 100], e.g. 3=1.15")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"--jitter {self.jitter}: relative standard deviation in [0, 1), e.g. 0.02")


@dataclass
class _Row:
    stage: int
    stream: Stream
    kind: TaskKind
    name: str
    duration_s: float
    category: str
    phase: Phase
    micro: int = -1
    chunk: int = 0
    layer: int = -1
    flops: float = 0.0
    nbytes: float = 0.0
    comm: Comm | None = None
    deps: list[int] = field(default_factory=list)
    parts: tuple[tuple[str, float], ...] = ()
    step: int = 0
    posted_after: int = -1


def split_layers(n_layers: int, chunks: int) -> list[range]:
    """Layers of each virtual stage, in order (the first ``n mod chunks`` chunks hold one more)."""
    base, extra = divmod(n_layers, chunks)
    out, start = [], 0
    for c in range(chunks):
        n = base + (1 if c < extra else 0)
        out.append(range(start, start + n))
        start += n
    return out


class _Builder:
    def __init__(self, arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, x: StageTerms,
                 params: StepModelParams, whatif: WhatIf) -> None:
        self.arch, self.plan, self.cluster, self.x, self.params, self.whatif = arch, plan, cluster, x, params, whatif
        self.rows: list[_Row] = []
        self.rng = np.random.default_rng(whatif.seed)
        self.rps = plan.tp * plan.cp * plan.dp
        slow = {r // self.rps: f for r, f in whatif.slow_ranks}
        self.stage_factor = [slow.get(s, 1.0) for s in range(plan.pp)]
        self.sync_group = plan.tp * plan.cp
        self.chunks = split_layers(arch.n_layers, plan.pp * plan.vp)
        n = max(x.n_dense + x.n_moe, 1e-9)
        self.per_layer_cp = (x.cp_f / n, x.cp_b / n)
        self.per_layer_ep = x.ep_f / x.n_moe if x.n_moe else 0.0
        self.per_layer_fsdp = (x.fsdp_f / n, x.fsdp_b / n)
        self.act_bytes = float(plan.mbs * plan.seq // plan.cp * arch.hidden * 2)
        self.kv_bytes = 2.0 * plan.mbs * plan.seq // plan.cp * max(1, arch.n_kv_heads // plan.tp) * arch.hd * 2
        self.n_layers_max = max(len(c) for c in self.chunks) * plan.vp
        # FLOPs and HBM bytes of one pass, from the same op tables the times come from (Chakra COMP nodes)
        self.work: dict[tuple[str, bool], tuple[float, float]] = {}
        shard = plan_shard(plan)
        for kind in ("dense", "moe", "head"):
            if (kind == "moe" and not arch.is_moe) or (kind == "dense" and not arch.dense_layers_count()):
                continue
            ops = layer_ops(arch, shard, kind)
            for bwd in (False, True):
                t = ops.filter(ops["phase"] == ("bwd" if bwd else "fwd"))
                self.work[(kind, bwd)] = (float(t["flops"].sum()), float((t["bytes_read"] + t["bytes_written"]).sum()))

    # ---- helpers ----
    def add(self, row: _Row) -> int:
        self.rows.append(row)
        return len(self.rows) - 1

    def _jitter(self) -> float:
        if not self.whatif.jitter:
            return 1.0
        z = self.rng.standard_normal(self.sync_group).max()
        return max(0.5, 1.0 + self.whatif.jitter * float(z))

    def is_moe_layer(self, layer: int) -> bool:
        return self.arch.is_moe and layer >= self.arch.dense_layers_count()

    def _lt(self, moe: bool) -> _LayerTimes:
        lt = self.x.moe if moe else self.x.dense
        assert lt is not None
        return lt

    def _parts(self, lt: _LayerTimes, backward: bool, total: float,
               recompute: bool = True) -> tuple[tuple[str, float], ...]:
        """Kernel time by category inside one layer pass; recompute runs the forward's kernels first."""
        parts: list[tuple[str, float]] = []
        if backward and recompute and self.plan.recompute is not Recompute.NONE:
            if self.plan.recompute is Recompute.FULL:
                frac = self.plan.recomputed_fraction(self.arch)
                parts += [(c, f * frac) for c, f, _ in lt.by_cat if f * frac > 0]
            else:
                parts.append(("attention", lt.attn_fwd))
        bwd_scale = (lt.bwd - lt.wgrad) / lt.bwd if backward and self.plan.lora and lt.bwd else 1.0
        parts += [(c, (b * bwd_scale) if backward else f) for c, f, b in lt.by_cat if (b if backward else f) > 0]
        k = min(1.0, total / max(sum(t for _, t in parts), 1e-30))  # never more kernel time than the task
        return tuple((c, t * k) for c, t in parts)

    def compute(self, stage: int, name: str, dur: float, parts: tuple[tuple[str, float], ...], phase: Phase,
                deps: list[int], *, micro: int = -1, chunk: int = 0, layer: int = -1,
                work: tuple[float, float] = (0.0, 0.0), jitter: bool = True) -> int:
        f = self.stage_factor[stage] * (self._jitter() if jitter else 1.0)
        cat = max(parts, key=lambda ct: ct[1])[0] if parts else "other"
        return self.add(_Row(stage, Stream.COMPUTE, TaskKind.COMPUTE, name, dur * f, cat, phase, micro,
                             chunk, layer, work[0], work[1], None, list(deps), tuple((c, t * f) for c, t in parts)))

    def comm(self, stage: int, axis: ParallelAxis, coll: Collective, dur: float, nbytes: float, group: int, stride: int,
             phase: Phase, deps: list[int], *, micro: int = -1, chunk: int = 0, layer: int = -1, peer: int = -1,
             kind: TaskKind = TaskKind.COLLECTIVE, label: str = "") -> int:
        name = f"nccl:{coll.value}@{axis.value}" + (f" {label}" if label else "")
        return self.add(_Row(stage, _STREAM[axis], kind, name, dur, "communication", phase, micro, chunk, layer,
                             0.0, nbytes, Comm(coll, nbytes, axis, group, stride, peer), list(deps)))

    # ---- one layer pass ----
    def layer(self, stage: int, layer: int, u: Unit, pending: list[int], last: int | None) -> tuple[int, list[int]]:
        """Compute task of one layer pass, its hidden and exposed communication; returns (compute id,
        the exposed tasks the next compute waits for)."""
        x, p = self.x, self.plan
        moe = self.is_moe_layer(layer)
        lt = self._lt(moe)
        ph = Phase.BWD if u.backward else Phase.FWD
        dur = (x.mb if moe else x.db) if u.backward else (x.mf if moe else x.df)
        cid = self.compute(stage, f"layer{layer}.{ph.value}", dur, self._parts(lt, u.backward, dur), ph, pending,
                           micro=u.micro, chunk=u.chunk, layer=layer,
                           work=self.work[("moe" if moe else "dense", u.backward)])
        block: list[int] = []
        # hidden comm launches with this layer's compute: it waits for what the compute waits for, so it runs
        # under this layer's kernels (the analytic model's min(comm, layer compute)), not in the gap before
        under = [*pending, last] if last is not None else list(pending)

        def pair(axis: ParallelAxis, coll: Collective, hidden: float, exposed: float, nbytes: float, group: int,
                 stride: int) -> None:
            total = hidden + exposed
            if hidden > 0:
                self.comm(stage, axis, coll, hidden, nbytes * hidden / total, group, stride, ph, under,
                          label="overlapped", micro=u.micro, chunk=u.chunk, layer=layer)
            if exposed > 0:  # exposed parts of different axes run one after another, as the analytic sum counts them
                block.append(self.comm(stage, axis, coll, exposed, nbytes * exposed / total, group, stride, ph,
                                       [cid, *block[-1:]], micro=u.micro, chunk=u.chunk, layer=layer))

        bwd = u.backward
        if p.tp > 1:
            blocks = x.tp_blocks_moe if moe else 2.0
            pair(ParallelAxis.TP, Collective.ALL_GATHER if x.sp else Collective.ALL_REDUCE, x.tp_one * (1 - x.tp_expo) * blocks,
                 x.tp_one * x.tp_expo * blocks, self.act_bytes * blocks, p.tp, 1)
        if p.cp > 1:
            pair(ParallelAxis.CP, Collective.SEND_RECV, x.cp_hidden * (2 if bwd else 1), self.per_layer_cp[1 if bwd else 0],
                 self.kv_bytes * (p.cp - 1) * (2 if bwd else 1), p.cp, p.tp)
        if moe and p.ep > 1:
            # the hidden all-to-all (at most the layer's fwd + bwd compute, axis_terms.ep_comm) split over the
            # two passes as their compute is, so no pass hides more than it computes
            share = (x.mb if bwd else x.mf) / max(x.mf + x.mb, 1e-30)
            pair(ParallelAxis.EP, Collective.ALL_TO_ALL, x.ep_hidden * share, self.per_layer_ep,
                 2 * self.act_bytes / (p.tp if x.sp else 1) * self.arch.moe_topk, p.ep, p.etp_eff)
        hid = x.fsdp_hidden_b if bwd else x.fsdp_hidden_f
        if not bwd and u.micro == 0:
            hid += x.fsdp_hidden_once / max(self.n_layers_max, 1)
        expo = self.per_layer_fsdp[1 if bwd else 0]
        if hid + expo > 0:
            pair(ParallelAxis.FSDP, Collective.REDUCE_SCATTER if bwd else Collective.ALL_GATHER, hid, expo,
                 2.0 * (x.dense_p + x.expert_p) / max(self.n_layers_max, 1), p.shard_size * p.cp, p.tp)
        return cid, block


def _check(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec, params: StepModelParams,
           sustained: bool) -> None:
    est = evaluate(arch, plan, cluster, params, sustained=sustained)
    if isinstance(est, Infeasible):
        raise ValueError(f"simulate: {plan.describe()} cannot run {arch.name} on {cluster.name}: {est.reason}")


def build_graph(arch: TransformerArch, plan: ParallelPlan, cluster: ClusterSpec,
                params: StepModelParams = DEFAULT_PARAMS, *, steps: int = 1, whatif: WhatIf | None = None,
                sustained: bool = True) -> StepGraph:
    """Every task of ``steps`` training steps."""
    if not 1 <= steps <= 100:
        raise ValueError(f"--steps {steps}: simulate 1..100 steps")
    for r, _ in (whatif.slow_ranks if whatif else ()):
        if r >= plan.gpus:
            raise ValueError(f"--slow-rank {r}: the job has ranks 0..{plan.gpus - 1}")
    _check(arch, plan, cluster, params, sustained)
    x = stage_terms(arch, plan, cluster, params, sustained=sustained)
    b = _Builder(arch, plan, cluster, x, params, whatif or WhatIf())
    prev_tail: dict[int, int] = {}
    for step in range(steps):
        prev_tail = _one_step(b, step, prev_tail)
    tasks = tuple(Task(id=i, stage=r.stage, stream=r.stream, kind=r.kind, name=r.name, duration_s=r.duration_s,
                       category=r.category, phase=r.phase, micro=r.micro, chunk=r.chunk, layer=r.layer,
                       flops=r.flops, bytes=r.nbytes, comm=r.comm, deps=tuple(sorted(set(r.deps))), parts=r.parts,
                       step=r.step, posted_after=r.posted_after)
                  for i, r in enumerate(b.rows))
    return StepGraph(tasks=tasks, stages=plan.pp, world_size=plan.gpus, ranks_per_stage=b.rps, model=arch.name,
                     layout=plan.describe(), gpu=cluster.gpu.name, cluster=cluster.name, steps=steps)


def _one_step(b: _Builder, step: int, prev_tail: dict[int, int]) -> dict[int, int]:
    p, x, arch = b.plan, b.x, b.arch
    first = len(b.rows)
    P = p.pp * p.vp
    orders = [stage_order(s, p.pp, p.n_micro, p.vp) for s in range(p.pp)]
    start: dict[tuple[int, bool, int], int] = {}  # (virtual stage, backward, micro) -> first compute id
    posted: dict[tuple[int, bool, int], int] = {}  # -> the compute task after which its input is received
    end: dict[tuple[int, bool, int], list[int]] = {}  # -> what must finish before the unit's output is sent
    dp_tasks: dict[int, list[int]] = {s: [] for s in range(p.pp)}
    last_compute: dict[int, int] = {}
    gather: dict[tuple[int, int], int] = {}
    for s in range(p.pp):
        deps0 = [prev_tail[s]] if s in prev_tail else []
        if x.once.dp_gather > 0:  # ZeRO-1/2: this step's parameters, gathered bucket by bucket as forward needs them
            layers = [layer for c in range(p.vp) for layer in b.chunks[c * p.pp + s]]
            blocking = not p.overlap_param_gather
            for layer in layers:
                gather[(s, layer)] = b.comm(s, ParallelAxis.DP, Collective.ALL_GATHER, x.once.dp_gather / max(len(layers), 1),
                                            2.0 * x.dense_p / max(len(layers), 1), p.shard_size * p.cp, p.tp,
                                            Phase.FWD, deps0, layer=layer)
            if blocking:
                deps0 = deps0 + list(gather.values())
        last_bwd = {u.chunk: i for i, u in enumerate(orders[s]) if u.backward}
        pending: list[int] = list(deps0)
        last: int | None = prev_tail.get(s)
        seen_fwd: set[int] = set()
        n_layers_stage = max(1, sum(len(b.chunks[c * p.pp + s]) for c in range(p.vp)))
        for i, u in enumerate(orders[s]):
            vs = u.chunk * p.pp + s
            layers = list(b.chunks[vs])
            key = (vs, u.backward, u.micro)
            unit_first = len(b.rows)
            posted[key] = -1 if last is None else last
            if u.backward and vs == P - 1:
                last = b.compute(s, "head.bwd", x.head.bwd, b._parts(x.head, True, x.head.bwd, recompute=False), Phase.BWD, pending,
                                 micro=u.micro, chunk=u.chunk, work=b.work[("head", True)])
                pending = []
            for layer in reversed(layers) if u.backward else layers:
                if not u.backward and layer not in seen_fwd and (s, layer) in gather:
                    pending = [*pending, gather[(s, layer)]]
                    seen_fwd.add(layer)
                cid, pending = b.layer(s, layer, u, pending, last)
                last = cid
                if u.backward and last_bwd.get(u.chunk) == i and x.once.dp_reduce > 0 and p.overlap_grad_reduce:
                    dp_tasks[s].append(b.comm(s, ParallelAxis.DP, x.once.dp_kind, x.once.dp_reduce / n_layers_stage,
                                              x.dense_p * p.grad_reduce_bytes / n_layers_stage,
                                              p.shard_size * p.cp, p.tp, Phase.BWD, [cid], layer=layer))
            if not u.backward and vs == P - 1:
                last = b.compute(s, "head.fwd", x.head.fwd, b._parts(x.head, False, x.head.fwd), Phase.FWD, pending,
                                 micro=u.micro, chunk=u.chunk, work=b.work[("head", False)])
                pending = []
            if len(b.rows) == unit_first:  # a virtual stage with no layers (pp*vp up to n_layers + 2): passes through
                last = b.compute(s, "stage.passthrough", 0.0, (), Phase.BWD if u.backward else Phase.FWD, pending,
                                 micro=u.micro, chunk=u.chunk, jitter=False)
                pending = []
            start[key] = unit_first if b.rows[unit_first].stream is Stream.COMPUTE else _first_compute(b, unit_first)
            end[key] = ([last] if last is not None else []) + pending
        if last is not None:
            last_compute[s] = last
        if x.once.dp_reduce > 0 and not p.overlap_grad_reduce:
            dp_tasks[s].append(b.comm(s, ParallelAxis.DP, x.once.dp_kind, x.once.dp_reduce, x.dense_p * p.grad_reduce_bytes,
                                      p.shard_size * p.cp, p.tp, Phase.BWD, [last_compute[s], *pending]))
        if x.fsdp_once > 0:
            dp_tasks[s].append(b.comm(s, ParallelAxis.FSDP, Collective.REDUCE_SCATTER, x.fsdp_once, 2.0 * x.dense_p,
                                      p.shard_size * p.cp, p.tp, Phase.BWD, [last_compute[s], *pending]))
        if x.once.hsdp > 0:
            dp_tasks[s].append(b.comm(s, ParallelAxis.DP, Collective.ALL_REDUCE, x.once.hsdp, x.dense_p * p.grad_reduce_bytes
                                      / p.shard_size, p.dp // max(p.shard_group, 1), p.tp * p.cp * p.shard_group,
                                      Phase.BWD, [*dp_tasks[s], last_compute[s]]))
        if pending:
            dp_tasks[s].extend(pending)
    _pipeline_transfers(b, start, end, posted, P)
    # gradient-norm all-reduce for clipping spans every rank: the optimizer waits for every stage's gradients
    everyone = [t for ts in dp_tasks.values() for t in ts] + list(last_compute.values())
    tails: dict[int, int] = {}
    for s in range(p.pp):
        opt = b.compute(s, "optimizer.adam", x.once.optimizer, (("optimizer", x.once.optimizer),), Phase.OPTIMIZER, everyone,
                        jitter=False)
        tails[s] = b.compute(s, "step.overhead", b.params.step_overhead_s, (), Phase.OPTIMIZER, [opt], jitter=False)
    for r in b.rows[first:]:
        r.step = step
    del arch
    return tails


def _first_compute(b: _Builder, i: int) -> int:
    while b.rows[i].stream is not Stream.COMPUTE:
        i += 1
    return i


def _pipeline_transfers(b: _Builder, start: dict[tuple[int, bool, int], int],
                        end: dict[tuple[int, bool, int], list[int]], posted: dict[tuple[int, bool, int], int],
                        P: int) -> None:
    """Send / receive of activations (forward) and their gradients (backward) between virtual stages."""
    p, x = b.plan, b.x
    if p.pp == 1:
        return
    nbytes = float(x.t_sp * b.arch.hidden * 2)
    for (vs, backward, micro), deps in end.items():
        nxt = vs - 1 if backward else vs + 1
        if not 0 <= nxt < P:
            continue
        src, dst = vs % p.pp, nxt % p.pp
        ph = Phase.BWD if backward else Phase.FWD
        b.comm(src, ParallelAxis.PP, Collective.SEND_RECV, x.once.pp_p2p, nbytes, 2, b.rps, ph, deps, micro=micro,
               peer=dst, kind=TaskKind.SEND)
        recv = b.comm(dst, ParallelAxis.PP, Collective.SEND_RECV, x.once.pp_p2p, nbytes, 2, b.rps, ph, deps, micro=micro,
                      peer=src, kind=TaskKind.RECV)
        b.rows[recv].posted_after = posted[(nxt, backward, micro)]
        b.rows[start[(nxt, backward, micro)]].deps.append(recv)
