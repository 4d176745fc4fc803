"""A seeded fuzzer: mutated traces (fields deleted or set to odd values, metadata replaced, events
duplicated or reordered, bytes flipped, files cut short) through the reader, every analysis and both
renderers. Each case either reads, and then the numbers keep their invariants, or fails with a
ValueError of one line; never another exception. A few hundred cases in the fast suite, thousands slow.

Invariants: temporal parts add up to the window (compute + communication + copy + idle, and idle = host
+ sync + other), no negative time, no share above 1, what to fix first never above the step, and the
small-trace engine agrees with the polars one whenever it takes the file.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from conftest import diff
from trainperf.report.trace_html import render_html
from trainperf.report.trace_text import analysis_text
from trainperf.trace import analyze
from trainperf.trace.quick import analyze_small

_spec = importlib.util.spec_from_file_location(
    "make_fixtures", Path(__file__).resolve().parents[2] / "data" / "traces" / "make_fixtures.py")
assert _spec is not None and _spec.loader is not None
mk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mk)

ODD: list[Any] = [None, -1, 0, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 1e16, -1e16, 1e300, 0.5, "", "x", "12",
                  True, False, [], [1, 2], {}, {"a": 1}, "ProfilerStep#99999999999"]
FIELDS = ["ph", "cat", "name", "pid", "tid", "ts", "dur", "args", "id"]
ARGS = ["correlation", "External id", "stream", "device", "bytes", "Collective name", "In msg nelems",
        "Group size", "dtype", "Input Dims", "Input type", "Concrete Inputs"]
META = ["deviceProperties", "distributedInfo", "baseTimeNanoseconds", "traceEvents"]


def _bases() -> list[dict[str, Any]]:
    out = [mk.synthetic(), mk.synthetic(sync=True), mk.synthetic(rank=1, world=2, offset_us=5.0)]
    d = mk.synthetic()
    d["baseTimeNanoseconds"] = 1_700_000_000_000_000_000
    out.append(d)
    return out


def mutate(rng: random.Random, doc: dict[str, Any]) -> bytes:
    d = copy.deepcopy(doc)
    ev = d["traceEvents"]
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        dicts = [x for x in ev if isinstance(x, dict)]
        e = rng.choice(dicts) if dicts else {}
        if op == 0 and e:
            e.pop(rng.choice(list(e)), None)
        elif op == 1:
            e[rng.choice(FIELDS)] = copy.deepcopy(rng.choice(ODD))
        elif op == 2 and isinstance(e.get("args"), dict):
            e["args"][rng.choice(ARGS)] = copy.deepcopy(rng.choice(ODD))
        elif op == 3:
            d[rng.choice(META[:3])] = copy.deepcopy(rng.choice([*ODD, [{"id": 0, "name": 7}], {"rank": 1}]))
        elif op == 4 and ev:
            ev.insert(rng.randrange(len(ev) + 1), copy.deepcopy(e))
        elif op == 5:
            rng.shuffle(ev)
        elif op == 6 and e:
            e["ts"], e["dur"] = rng.uniform(-1e3, 1e3), rng.choice([0, 0.0005, 1e-9, rng.uniform(0, 500)])
        elif op == 7 and e:
            e["cat"] = rng.choice(["kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cpu_op", "cuda_sync"])
        elif op == 8 and ev:
            ev.append(copy.deepcopy(rng.choice(ODD)))  # an event that is not an object
    data = json.dumps(d).encode()
    k = rng.randrange(10)
    if k == 0:  # a byte changed
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.choice(b'{}[],:"0x \\')]) + data[i + 1 :]
    elif k == 1:  # cut short
        data = data[: rng.randrange(len(data))]
    elif k == 2:
        data = gzip.compress(data, mtime=0)
        if rng.random() < 0.5:
            data = data[: rng.randrange(len(data))]
    return data


def check(a: Any) -> None:
    """The invariants of one analysis."""
    eps = 1e-9
    for r in a.temporal.iter_rows(named=True):
        w = r["window"]
        assert w >= 0 and all(r[c] >= 0 for c in ("compute", "communication", "copy", "idle", "idle_host",
                                                  "idle_sync", "idle_other")), r
        assert r["compute"] + r["communication"] + r["copy"] + r["idle"] == w, r
        assert r["idle_host"] + r["idle_sync"] + r["idle_other"] == r["idle"], r
        assert all(r[c] is None or math.isnan(r[c]) or -eps <= r[c] <= 1 + eps for c in r if c.endswith("_frac")), r
    shares = [("kernels", "share"), ("top_kernels", "share"), ("launch", "short_share"), ("launch", "short_time_share"),
              ("overlap", "overlap"), ("collectives", "overlap"), ("host_ops", "share"), ("opportunities", "recover_frac")]
    for t, c in shares:
        df = a.tables()[t]
        if df.height and c in df.columns:
            v = [x for x in df[c].to_list() if x is not None and not math.isnan(x)]
            assert all(-eps <= x <= 1 + eps for x in v), (t, c, v)
    for t in ("kernels", "top_kernels", "sol", "host_ops", "collectives", "overlap"):
        df = a.tables()[t]
        for c in df.columns:
            if c.endswith("_ns") and df.height:
                assert all(x is None or x >= 0 for x in df[c].to_list()), (t, c)
    steps = a.temporal.filter(a.temporal["step"] >= 0)
    t = steps if steps.height else a.temporal
    if a.opportunities.height:
        assert float(a.opportunities["recover_ns"].sum()) <= float(t["window"].mean()) * (1 + eps)


def run(seed: int, n: int, tmp: Path) -> int:
    rng = random.Random(seed)
    bases = _bases()
    ok = 0
    for i in range(n):
        data = mutate(rng, rng.choice(bases))
        p = tmp / f"case{i % 4}.json"
        p.write_bytes(data)
        try:
            a = analyze(p)
        except ValueError as e:  # TraceError and the like: one line naming the problem
            msg = str(e)
            assert msg and "\n" not in msg and "Traceback" not in msg, (seed, i, msg)
            assert analyze_small(p) is None  # the small engine never answers what the full one refuses
            continue
        check(a)
        analysis_text(a.to_dict(), top=5)
        render_html(a)
        q = analyze_small(p)
        if q is not None:
            assert diff(q, a.to_dict()) == [], (seed, i)
        ok += 1
    return ok


def test_fuzz_fast(tmp_path: Path) -> None:
    assert run(14, 250, tmp_path) > 50  # (most mutated files still read)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_fuzz_many(tmp_path: Path, seed: int) -> None:
    run(1000 + seed, 500, tmp_path)
