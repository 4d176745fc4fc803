"""A simulated timeline as Kineto-compatible Chrome trace JSON, one file per representative rank.

What PyTorch's profiler writes, so that Perfetto UI, HTA and `trainperf analyze` read it as a measured
trace: ``traceEvents`` of complete ("X") events in microseconds with ``ProfilerStep#N`` user annotations,
one ``cpu_op`` per task on a host thread, a ``cuda_runtime`` cudaLaunchKernel per kernel (``correlation``
and ``External id`` link kernel -> launch -> op as Kineto does), ``kernel`` events on one GPU stream per
simulated stream carrying NCCL's args for collectives (``Collective name``, ``In msg nelems``, ``Group
size``, ``dtype``), plus ``distributedInfo`` (rank, world size) and ``deviceProperties`` from the GPU
spec. Kernel names are chosen so the analyzer's name rules (trace/classify.py) give back each kernel's
category; copies are ``gpu_memcpy`` events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from trainperf.hardware.spec import GPUSpec
from trainperf.parallel.collectives import Collective
from trainperf.simulate.engine import Timeline
from trainperf.simulate.graph import Stream, Task, TaskKind
from trainperf.vocab import OpCategory as C

KERNEL_NAMES = {
    C.MATMUL.value: "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64 [trainperf sim]",
    C.ATTENTION.value: "flash_fwd_kernel [trainperf sim]",
    C.CONV.value: "cudnn_conv_fprop_implicit_gemm [trainperf sim]",
    C.NORM.value: "rms_norm_kernel [trainperf sim]",
    C.ELEMENTWISE.value: "vectorized_elementwise_kernel [trainperf sim]",
    C.REDUCTION.value: "cross_entropy_reduce_kernel [trainperf sim]",
    C.EMBEDDING.value: "indexSelectLargeIndex embedding [trainperf sim]",
    C.OPTIMIZER.value: "multi_tensor_apply_kernel adam [trainperf sim]",
    C.OTHER.value: "unclassified_kernel [trainperf sim]",
}
_NCCL = {Collective.ALL_REDUCE: ("AllReduce_Sum_bf16_RING_LL", "allreduce"),
         Collective.ALL_GATHER: ("AllGather_RING_LL", "_allgather_base"),
         Collective.REDUCE_SCATTER: ("ReduceScatter_Sum_bf16_RING_LL", "_reduce_scatter_base"),
         Collective.ALL_TO_ALL: ("SendRecv", "all_to_allv"),
         Collective.SEND_RECV: ("SendRecv", "send")}
GPU_STREAM = {Stream.COMPUTE: 7, Stream.TP: 20, Stream.CP: 24, Stream.EP: 28, Stream.DP: 32, Stream.PP: 36}
HOST_PID = 1
_LAUNCH_US = 2.0  # a cudaLaunchKernel call's own duration on the host (shared/notes: 2-5 us per launch)


def _device_properties(gpu: GPUSpec) -> list[dict[str, Any]]:
    return [{"id": 0, "name": gpu.name, "totalGlobalMem": int(gpu.hbm_capacity_GB * 1e9),
             "numSms": getattr(gpu, "sm_count", 0) or 0, "computeMajor": 0, "computeMinor": 0}]


class _Writer:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ext = 0
        self.corr = 0

    def op(self, t: Task, ts: float, dur: float, tid: int) -> int:
        self.ext += 1
        self.events.append({"ph": "X", "cat": "cpu_op", "name": f"trainperf::{t.name}", "pid": HOST_PID, "tid": tid,
                            "ts": ts, "dur": dur, "args": {"External id": self.ext, "micro-batch": t.micro,
                                                           "layer": t.layer, "stage": t.stage}})
        return self.ext

    def kernel(self, name: str, ts: float, dur: float, stream: int, tid: int, ext: int, cat: str = "kernel",
               args: dict[str, Any] | None = None) -> None:
        self.corr += 1
        self.events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": HOST_PID,
                            "tid": tid, "ts": ts, "dur": min(_LAUNCH_US, dur),
                            "args": {"correlation": self.corr, "External id": ext}})
        self.events.append({"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": stream, "ts": ts, "dur": dur,
                            "args": {"device": 0, "stream": stream, "correlation": self.corr, "External id": ext,
                                     **(args or {})}})


def _comm_args(t: Task) -> dict[str, Any]:
    c = t.comm
    if c is None:
        return {}
    nel = int(c.nbytes / 2)
    return {"Collective name": _NCCL[c.collective][1], "In msg nelems": nel, "Out msg nelems": nel,
            "Group size": c.group_size, "dtype": "BFloat16", "Process Group Name": c.axis.value}


def _lanes(tasks: list[Task], tl: Timeline) -> dict[int, int]:
    """Host thread per task: one per ordered stream; unordered (pipeline) transfers may overlap each
    other, so they take the first of several threads that is free (Perfetto nests events per thread)."""
    lane: dict[int, int] = {}
    free: list[float] = []
    base = {s: 10 + i for i, s in enumerate(Stream)}
    for t in sorted((t for t in tasks if t.stream is Stream.PP), key=lambda t: tl.start_s[t.id]):
        s = float(tl.start_s[t.id])
        k = next((i for i, f in enumerate(free) if f <= s), len(free))
        if k == len(free):
            free.append(0.0)
        free[k] = float(tl.end_s[t.id])
        lane[t.id] = 100 + k
    for t in tasks:
        lane.setdefault(t.id, base[t.stream])
    return lane


def rank_trace(tl: Timeline, stage: int, gpu: GPUSpec) -> dict[str, Any]:
    """The Chrome trace of stage ``stage``'s representative rank."""
    g = tl.graph
    tasks = [t for t in g.tasks if t.stage == stage]
    w = _Writer()
    us = 1e6
    lanes = _lanes(tasks, tl)
    t_prev = 0.0
    for k in range(g.steps):  # this rank's steps: from its previous step's last work to this one's
        ids = [t.id for t in tasks if t.step == k]
        t_end = float(tl.end_s[ids].max())
        w.events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{k}", "pid": HOST_PID, "tid": 1,
                         "ts": t_prev * us, "dur": (t_end - t_prev) * us, "args": {}})
        t_prev = t_end
    for t in tasks:
        s, e = float(tl.start_s[t.id]) * us, float(tl.end_s[t.id]) * us
        if e <= s:
            continue
        tid = lanes[t.id]
        ext = w.op(t, s, e - s, tid)
        stream = GPU_STREAM[t.stream] + (lanes[t.id] - 100 if t.stream is Stream.PP else 0)
        if t.kind is TaskKind.COMPUTE:
            at = s
            for cat, sec in t.parts:
                d = sec * float(tl.scale[t.id]) * us
                if d <= 0:
                    continue
                if cat == C.COPY.value:
                    w.kernel("Memcpy DtoD (Device -> Device)", at, d, stream, tid, ext, cat="gpu_memcpy")
                else:
                    w.kernel(KERNEL_NAMES.get(cat, KERNEL_NAMES["other"]), at, d, stream, tid, ext)
                at += d
        else:
            assert t.comm is not None
            w.kernel(f"ncclDevKernel_{_NCCL[t.comm.collective][0]}(ncclDevComm*, unsigned long, ncclWork*)", s, e - s,
                     stream, tid, ext, args=_comm_args(t))
    w.events.sort(key=lambda ev: (ev["ts"], -ev["dur"]))
    w.events.append({"name": "process_name", "ph": "M", "pid": HOST_PID, "tid": 0, "args": {"name": "trainperf simulate"}})
    return {"schemaVersion": 1, "deviceProperties": _device_properties(gpu),
            "distributedInfo": {"backend": "nccl", "rank": g.rank_of(stage), "world_size": g.world_size},
            "traceName": f"trainperf simulate {g.model} {g.layout} on {g.cluster}", "displayTimeUnit": "ms",
            "baseTimeNanoseconds": 0, "traceEvents": w.events}


def write_traces(tl: Timeline, out_dir: Path, gpu: GPUSpec) -> list[Path]:
    """One ``rank{R}.json`` per pipeline stage's representative under ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stage in range(tl.graph.stages):
        path = out_dir / f"rank{tl.graph.rank_of(stage)}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(orjson.dumps(rank_trace(tl, stage, gpu)))
        tmp.replace(path)
        paths.append(path)
    return paths
