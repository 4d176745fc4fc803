"""Regenerate the tiny synthetic traces in this folder: `python tests/data/traces/make_fixtures.py`.

Each trace's correct analysis is known by construction (numbers in the docstring of ``synthetic``); the
bad-input files exercise the reader's error paths. Times in the JSON are microseconds, as Kineto writes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PID, TID, DEV_PID, STREAM, COMM_STREAM = 100, 101, 0, 7, 20


def _x(cat: str, name: str, ts: float, dur: float, pid: int = PID, tid: int = TID, **args: Any) -> dict[str, Any]:
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}


def _launch(ext: int, corr: int, ts: float, dur: float = 4.0, name: str = "cudaLaunchKernel") -> list[dict[str, Any]]:
    return [_x("cuda_runtime", name, ts, dur, **{"External id": ext, "correlation": corr}),
            {"ph": "s", "id": corr, "pid": PID, "tid": TID, "ts": ts, "cat": "ac2g", "name": "ac2g"}]


def _kernel(name: str, ts: float, dur: float, corr: int, ext: int, stream: int = STREAM, cat: str = "kernel",
            **extra: Any) -> dict[str, Any]:
    return _x(cat, name, ts, dur, pid=DEV_PID, tid=stream, **{"External id": ext, "correlation": corr,
                                                              "device": 0, "stream": stream, **extra})


def synthetic(*, sync: bool = False, rank: int = 0, world: int = 1, offset_us: float = 0.0) -> dict[str, Any]:
    """One ProfilerStep#1 on the CPU [0, 300) us. On the GPU (us):

    - all-reduce (NCCL, stream 20) [100, 200), 1,000,000 float elements, group of 2
    - matmul A (aten::mm 64x128 @ 128x256 bf16) [80, 110); matmul B [170, 200): 40 us of the collective
      run under compute = exactly 40% overlap
    - memcpy [220, 230), launched at 50; kernel C (elementwise) [250, 260), launched at 240
    So the window is [80, 260) = 180 us: compute 70, exposed communication 60, copy 10, idle 40 made of
    [200, 220) (work already queued: other) and [230, 250) (C launched at 240: 10 host-bound + 10 other).
    With ``sync``, a cudaStreamSynchronize [228, 232) makes that 10 us host-bound stretch synchronization.
    """
    o = offset_us
    mm_shapes = {"Input Dims": [[64, 128], [128, 256]], "Input type": ["c10::BFloat16", "c10::BFloat16"],
                 "Concrete Inputs": ["", ""]}
    ev: list[dict[str, Any]] = [
        _x("user_annotation", "ProfilerStep#1", o + 0, 300, **{"External id": 1}),
        _x("cpu_op", "aten::linear", o + 5, 40, **{"External id": 2}),
        _x("cpu_op", "aten::mm", o + 10, 20, **{"External id": 3, **mm_shapes}),
        *_launch(3, 1001, o + 12),
        _x("cpu_op", "aten::mm", o + 31, 12, **{"External id": 4, **mm_shapes}),
        *_launch(4, 1002, o + 33),
        _x("cpu_op", "record_param_comms", o + 44, 5, **{"External id": 5}),
        *_launch(5, 1003, o + 45),
        _x("cpu_op", "aten::copy_", o + 48, 5, **{"External id": 6}),
        *_launch(6, 1004, o + 50, name="cudaMemcpyAsync"),
        _x("cpu_op", "aten::add", o + 238, 6, **{"External id": 7}),
        *_launch(7, 1005, o + 240),
        _kernel("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n", o + 80, 30, 1001, 3),
        _kernel("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n", o + 170, 30, 1002, 4),
        _kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", o + 100, 100, 1003, 5,
                stream=COMM_STREAM, **{"Collective name": "allreduce", "In msg nelems": 1_000_000,
                                       "Out msg nelems": 1_000_000, "Group size": 2, "dtype": "Float",
                                       "Process Group Name": "0"}),
        _kernel("Memcpy HtoD (Pinned -> Device)", o + 220, 10, 1004, 6, cat="gpu_memcpy", bytes=1 << 20),
        _kernel("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", o + 250, 10,
                1005, 7),
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": "python"}},
    ]
    if sync:
        ev.append(_x("cuda_runtime", "cudaStreamSynchronize", o + 228, 4, **{"External id": 0, "correlation": 1006}))
    return {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132}],
            "distributedInfo": {"backend": "nccl", "rank": rank, "world_size": world},
            "traceEvents": ev, "traceName": "synthetic", "displayTimeUnit": "ms"}


def _write(path: Path, doc: Any, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc, indent=1).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def main() -> None:
    _write(HERE / "overlap40.json", synthetic())
    _write(HERE / "sync.json.gz", synthetic(sync=True), gz=True)
    # the same trace with nanosecond timestamps on an epoch clock (ts > 1e17 cannot be microseconds)
    ns = synthetic()
    for e in ns["traceEvents"]:
        if "ts" in e:
            e["ts"] = int(e["ts"] * 1000) + 1_700_000_000_000_000_000
            e["dur"] = int(e.get("dur", 0) * 1000)
    _write(HERE / "ns_epoch.json", ns)
    # deviceProperties and everything else after the events, as newer Kineto writes it
    late = synthetic()
    _write(HERE / "events_first.json", {"traceEvents": late.pop("traceEvents"), **late})
    for r in (0, 1):
        _write(HERE / "two_ranks" / f"rank{r}.json", synthetic(rank=r, world=2, offset_us=r * 3.0))
        _write(HERE / "dup_ranks" / f"a{r}.json", synthetic(rank=0, world=2))
        _write(HERE / "skew" / f"rank{r}.json", synthetic(rank=r, world=2, offset_us=r * 50e6))
    _write(HERE / "mixed" / "job_a_rank0.json", synthetic(rank=0, world=2))
    _write(HERE / "mixed" / "job_a_rank1.json", synthetic(rank=1, world=2))
    _write(HERE / "mixed" / "job_b_rank0.json", synthetic(rank=0, world=8))
    full = gzip.compress(json.dumps(synthetic()).encode(), mtime=0)
    (HERE / "bad").mkdir(exist_ok=True)
    (HERE / "bad" / "truncated.json.gz").write_bytes(full[: len(full) // 2])
    (HERE / "bad" / "invalid.json").write_text('{"traceEvents": [{"ph": "X", "ts": 1, "dur": 2,}]}')
    (HERE / "bad" / "empty.json").write_text("")
    (HERE / "bad" / "foreign.json").write_text('{"name": "package.json", "version": "1.0"}')
    (HERE / "bad" / "no_events.json").write_text('{"traceEvents": [], "schemaVersion": 1}')
    missing = synthetic()
    missing["traceEvents"] += [{"cat": "kernel", "name": "no_ph_or_ts"}, {"ph": "X", "name": "no ts"}]
    _write(HERE / "bad" / "missing_fields.json", missing)


if __name__ == "__main__":
    main()
