"""What both trace engines share and that needs no polars: the rules (categories of events, collective
kinds, thresholds) and the reading of a file's metadata. The polars engine (load.py, analyses/) handles
any trace; the small-trace engine (quick/) answers a small file in plain Python, without importing polars;
both read these, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")
RUNTIME_CATS = ("cuda_runtime", "cuda_driver", "hip_runtime", "hip_driver")
# CPU calls that wait for the GPU: .item(), .cpu(), torch.cuda.synchronize (temporal.py's idle_sync)
SYNC_NAME = r"(?i)synchronize|cudaMemcpy$|hipMemcpy$"
SYNC_CATS = ("cuda_runtime", "cuda_driver", "cuda_sync")
ALL_STEPS = -1  # the step value of the whole-trace row of the temporal breakdown

# A kernel shorter than this is dominated by launch and tail overhead: the CUDA launch path costs about
# 2-5 us of CPU per kernel (NVIDIA CUDA C++ Best Practices Guide, "Kernel launch overhead"; PyTorch
# CUDA-graphs blog, 2021), so a stream of such kernels cannot keep the GPU busy from an eager CPU loop.
SHORT_KERNEL_NS = 10_000

# NCCL's element type names (ncclDataType_t as the profiler prints them) -> bytes per element.
NCCL_DTYPE_BYTES = {
    "Float": 4, "Float32": 4, "Half": 2, "Float16": 2, "BFloat16": 2, "Double": 8, "Float64": 8,
    "Int": 4, "Int32": 4, "Long": 8, "Int64": 8, "Char": 1, "Int8": 1, "Byte": 1, "Uint8": 1, "Bool": 1,
    "Float8e4m3": 1, "Float8e5m2": 1, "Float8_e4m3fn": 1, "Float8_e5m2": 1,
}
# collective kind from its name (first match wins)
COLLECTIVE_KINDS = (("allreduce", r"(?i)all_?reduce"), ("allgather", r"(?i)all_?gather"),
                    ("reducescatter", r"(?i)reduce_?scatter"), ("alltoall", r"(?i)all_?to_?all"),
                    ("broadcast", r"(?i)broadcast|bcast"), ("reduce", r"(?i)reduce"), ("sendrecv", r"(?i)send|recv"))

INT32_MAX = 2**31 - 1
# Times are int64 ns. Each event's ts and dur are kept within +-2**62 (146 years; beyond it an event's
# times are corrupt), so that ts + dur never wraps; a base offset is checked against the extremes.
NS_LIMIT = 2**62


class MetaError(ValueError):
    """A document key that makes the file's times unusable (the readers raise it as their TraceError)."""


def base_ns(meta: dict[str, Any], path: Path) -> int:
    """baseTimeNanoseconds, added to ts so that ranks share one clock (Kineto >= 2.3 writes ts relative to
    it); 0 for files in ns. A value that is not a whole number of ns in [0, 2**62) (2**62 ns is 146 years
    after the epoch) is an error: adding it would wrap int64 times or shift them by nonsense."""
    v = meta.get("baseTimeNanoseconds")
    if v is None or meta.get("_unit") != "us":
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise MetaError(f"{path}: baseTimeNanoseconds is a {type(v).__name__} ({str(v)[:40]}); expected an "
                        "integer number of ns: fix or delete that key")
    try:
        base = int(v)
    except (ValueError, OverflowError):
        raise MetaError(f"{path}: baseTimeNanoseconds {str(v)[:40]!r} is not an integer number of ns: fix or "
                        "delete that key") from None
    if not 0 <= base < NS_LIMIT:
        raise MetaError(f"{path}: baseTimeNanoseconds {base} is outside [0, 2**62) ns; fix or delete that key")
    return base


def check_range(lo: int | None, hi: int | None, base: int, path: Path) -> None:
    """ts + base (lo: the file's first start) and ts + dur + base (hi: its last end) must stay inside int64."""
    if lo is not None and hi is not None and (hi + base >= 2**63 - 1 or lo + base <= -(2**63)):
        raise MetaError(f"{path}: baseTimeNanoseconds {base} plus the events' ts goes beyond the int64 ns range "
                        "(292 years); the file's times are corrupt")


def int_field(d: dict[str, Any], key: str, lo: int, warnings: list[str], path: Path) -> int | None:
    """distributedInfo.rank / world_size: an integer in [lo, 2**31 - 1], else None with a warning (a bool is
    not a rank: JSON true is no number)."""
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= INT32_MAX:
        return v
    warnings.append(f"{path.name}: distributedInfo.{key} {str(v)[:30]!r} is not an integer in [{lo}, 2**31-1]; "
                    "ignored")
    return None


def rank_fields(meta: dict[str, Any], warnings: list[str], path: Path) -> tuple[int | None, int | None]:
    """(rank, world_size) from distributedInfo (None when absent or unusable)."""
    raw = meta.get("distributedInfo")
    dist: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return int_field(dist, "rank", 0, warnings, path), int_field(dist, "world_size", 1, warnings, path)


def device(meta: dict[str, Any], used: Sequence[int], warnings: list[str],
           path: Path) -> tuple[str | None, dict[str, Any]]:
    """The GPU's name and deviceProperties entry: the device most GPU events ran on (``used``: their
    device ids; the lowest id among equals), else the first entry."""
    raw = meta.get("deviceProperties")
    if raw is not None and not isinstance(raw, list):
        warnings.append(f"{path.name}: deviceProperties is a {type(raw).__name__}, not a list of devices; "
                        "ignored (pass --gpu for speed of light)")
        raw = None
    props = [p for p in raw or [] if isinstance(p, dict)]
    if not props:
        return None, {}
    if used:
        counts = Counter(used)
        top = max(counts.values())
        dev: Any = min(d for d, c in counts.items() if c == top)
    else:
        dev = props[0].get("id", 0)
    p = next((p for p in props if p.get("id") == dev), props[0])
    name = p.get("name")
    return (str(name) if name and isinstance(name, str | int | float) else None), p


def read_warnings(meta: dict[str, Any], path: Path) -> list[str]:
    """The reader's counts as warnings (events skipped, duplicated keys)."""
    out = []
    if meta.get("_dropped"):
        out.append(f"{path.name}: skipped {meta['_dropped']} events without 'ph' or 'ts'")
    if meta.get("_dup_keys"):
        out.append(f"{path.name}: the traceEvents key appears {meta['_dup_keys']} times; the events of every "
                   "one are read")
    if meta.get("_out_of_range"):
        out.append(f"{path.name}: skipped {meta['_out_of_range']} events whose ts or dur is beyond +-2**62 ns "
                   "(146 years): corrupt times")
    return out


def self_times(thread: Sequence[object], ts: Sequence[int], dur: Sequence[int],
               presorted: bool = False) -> tuple[list[int], list[bool]]:
    """Self time of each interval and whether it is top-level (no enclosing interval on its thread), for
    intervals that nest properly per thread (profiler spans do). Any order in (``presorted``: already by
    thread, start, longest first); results in input order. A child that outlives its parent (clock
    jitter) is cut at the parent's end."""
    n = len(ts)
    order = range(n) if presorted else sorted(range(n), key=lambda i: (str(thread[i]), ts[i], -dur[i], i))
    own = list(dur)
    top = [True] * n
    stack: list[int] = []  # open intervals on the current thread, innermost last
    prev: object = object()
    for i in order:
        if thread[i] != prev:
            stack, prev = [], thread[i]
        while stack and ts[stack[-1]] + dur[stack[-1]] <= ts[i]:
            stack.pop()
        if stack:
            p = stack[-1]
            own[p] -= min(dur[i], ts[p] + dur[p] - ts[i])
            top[i] = False
        stack.append(i)
    return [max(0, v) for v in own], top


STEP_NUMBER = re.compile(r"#(\d+)")


def step_number(name: str) -> int | None:
    """N of a ``ProfilerStep#N`` span (None beyond int32: that span is no step)."""
    m = STEP_NUMBER.search(name)
    if m is None:
        return None
    n = int(m.group(1))
    return n if n <= INT32_MAX else None
