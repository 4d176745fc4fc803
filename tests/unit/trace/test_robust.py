"""Bad or odd input gets one clear line (an error or a warning), never a traceback or a wrong number; the
numbers an expert checks first (SOL coverage, per-collective overlap, what to fix first, units) hold."""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.report.trace_html import render_html
from trainperf.report.trace_text import analysis_text
from trainperf.trace import TraceError, analyze, load_trace

_spec = importlib.util.spec_from_file_location(
    "make_fixtures", Path(__file__).resolve().parents[2] / "data" / "traces" / "make_fixtures.py")
assert _spec is not None and _spec.loader is not None
mk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mk)


def write(tmp: Path, doc: Any, name: str = "t.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def base(**meta: Any) -> dict[str, Any]:
    d = mk.synthetic()
    d.update(meta)
    return d


@pytest.mark.parametrize("meta, words", [
    ({"baseTimeNanoseconds": [1, 2]}, "baseTimeNanoseconds is a list"),
    ({"baseTimeNanoseconds": {"a": 1}}, "baseTimeNanoseconds is a dict"),
    ({"baseTimeNanoseconds": 2**64}, "outside [0, 2**62)"),
    ({"baseTimeNanoseconds": "soon"}, "is not an integer number of ns"),
])
def test_unusable_base_time_is_one_line(tmp_path: Path, meta: dict[str, Any], words: str) -> None:
    with pytest.raises(TraceError, match=re.escape(words)) as e:
        load_trace(write(tmp_path, base(**meta)))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("meta, words", [
    ({"deviceProperties": 5}, "deviceProperties is a int"),
    ({"distributedInfo": {"rank": 2**40, "world_size": 2}}, "distributedInfo.rank '1099511627776'"),
    ({"distributedInfo": {"rank": -5, "world_size": 2}}, "distributedInfo.rank '-5'"),
    ({"distributedInfo": {"rank": True, "world_size": 2}}, "distributedInfo.rank 'True'"),
])
def test_odd_metadata_is_a_warning(tmp_path: Path, meta: dict[str, Any], words: str) -> None:
    ts = load_trace(write(tmp_path, base(**meta)))
    assert any(words in w for w in ts.warnings) and ts.ranks[0].rank == 0
    a = analyze(ts)
    assert a.temporal.filter(pl.col("step") == -1)["window"][0] == 180_000  # the numbers are untouched


@pytest.mark.parametrize("field, value", [("ts", 1e16), ("dur", 1e16), ("ts", -1e16)])
def test_times_beyond_int64_ns_are_skipped_not_wrapped(tmp_path: Path, field: str, value: float) -> None:
    d = base()
    d["traceEvents"].append(mk._x("kernel", "huge", 150, 5, pid=0, tid=7, correlation=9999) | {field: value})
    a = analyze(write(tmp_path, d))
    assert any("beyond +-2**62 ns" in w for w in a.trace.warnings)
    w = a.temporal.filter(pl.col("step") == -1).row(0, named=True)
    assert w["window"] == 180_000 and min(w[c] for c in w if c not in ("rank", "step")) >= 0


def test_a_step_number_beyond_int32_is_no_step(tmp_path: Path) -> None:
    d = base()
    d["traceEvents"].append(mk._x("user_annotation", "ProfilerStep#99999999999", 400, 10))
    a = analyze(write(tmp_path, d))
    assert any("step number beyond 2**31-1" in w for w in a.trace.warnings)
    assert sorted(a.trace.events["step"].drop_nulls().unique().to_list()) == [1]


def test_duplicated_trace_events_key_reads_every_array(tmp_path: Path) -> None:
    d = base()
    evs = d.pop("traceEvents")
    text = json.dumps(d)[:-1]
    n = len(load_trace(write(tmp_path, base())).events)
    for doc in (text + ', "traceEvents": [], "traceEvents": ' + json.dumps(evs) + "}",
                text + ', "traceEvents": ' + json.dumps(evs[:5]) + ', "traceEvents": ' + json.dumps(evs[5:]) + "}"):
        ts = load_trace(write(tmp_path, doc))
        assert len(ts.events) == n and any("traceEvents key appears 2 times" in w for w in ts.warnings)


def test_deep_nesting_is_read(tmp_path: Path) -> None:
    deep = '{"x":' * 3000 + "1" + "}" * 3000
    d = base()
    evs = json.dumps(d.pop("traceEvents"))
    text = ('{"deep": ' + deep + ', "traceEvents": ' + evs[:-1] + ', {"ph": "X", "cat": "cpu_op", "name": "a", '
            '"pid": 1, "tid": 1, "ts": 1, "dur": 1, "args": {"d": ' + deep + "}}]}")
    assert len(load_trace(write(tmp_path, text)).events) == len(json.loads(evs)) + 1


def test_one_corrupt_byte_is_named_at_its_offset(tmp_path: Path, traces: Path) -> None:
    src = traces / "ns_resolution_trace" / "rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"
    data = gzip.decompress(src.read_bytes())
    at = data.index(b'"name"', len(data) // 2)  # 7.7 MB into 15 MB of events
    p = tmp_path / "bad.json"
    p.write_bytes(data[:at] + b"X" + data[at + 1 :])
    with pytest.raises(TraceError, match=f"at byte {at}, near") as e:
        load_trace(p)
    assert "\n" not in str(e.value)


def test_a_fifo_is_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(TraceError, match="not a regular file or folder"):
        load_trace(fifo)


def test_a_kernel_without_a_name_renders(tmp_path: Path) -> None:
    d = base()
    d["traceEvents"].append({"ph": "X", "cat": "kernel", "pid": 0, "tid": 7, "ts": 255, "dur": 3,
                             "args": {"correlation": 1005}})
    a = analyze(write(tmp_path, d))
    assert "(no name)" in analysis_text(a.to_dict(), top=20) and "(no name)" in render_html(a)


def test_html_never_overwrites_an_input_and_says_when_it_replaces(tmp_path: Path, fixtures: Path) -> None:
    t = write(tmp_path, base())
    r = CliRunner().invoke(app, ["analyze", str(t), "--html", str(t)])
    assert r.exit_code != 0 and "is also an input" in str(r.exception) and t.read_text().startswith("{")
    html = tmp_path / "r.html"
    assert "wrote" in CliRunner().invoke(app, ["analyze", str(t), "--html", str(html)]).output
    assert "replaced" in CliRunner().invoke(app, ["analyze", str(t), "--html", str(html)]).output
    r = CliRunner().invoke(app, ["analyze", str(t), "--compare", str(fixtures / "sync.json.gz"), "--html", str(html)])
    assert r.exit_code == 0 and "trace comparison" in html.read_text() and "idle_sync" in html.read_text()


def test_equal_times_sort_the_same_whatever_the_file_order(tmp_path: Path) -> None:
    d = base()
    for i in range(30):  # 30 kernels of one duration, names in reverse order in the file
        d["traceEvents"].append(mk._kernel(f"k{29 - i:02d}", 261 + i, 5, 5000 + i, 7))
    r = copy.deepcopy(d)
    r["traceEvents"].reverse()
    a, b = (analyze(write(tmp_path, x, f"{n}.json"), top=40).to_dict()["tables"] for n, x in (("a", d), ("b", r)))
    assert [k["name"] for k in a["top_kernels"]] == [k["name"] for k in b["top_kernels"]]
    names = [k["name"] for k in a["top_kernels"] if k["name"].startswith("k")]
    assert names == sorted(names) and len(names) == 30


def test_tensor_list_recorded_empty_is_unpriced(tmp_path: Path) -> None:
    d = base()
    d["traceEvents"] += [mk._x("cpu_op", "aten::cat", 250, 8, **{"External id": 8, "Input Dims": [[], []],
                                                                 "Input type": ["TensorList", "Scalar"],
                                                                 "Concrete Inputs": ["", "0"]}),
                         *mk._launch(8, 1010, 251), mk._kernel("CatArrayBatchedCopy", 262, 6, 1010, 8)]
    a = analyze(write(tmp_path, d))
    cat = a.sol.filter(pl.col("op") == "aten::cat").row(0, named=True)
    assert (cat["covered"], cat["unpriced"], cat["sol_ns"], cat["bytes"]) == (False, "shapes unrecorded", None, None)
    assert a.sol_summary["unpriced_shapes_unrecorded_ns"] == 6_000
    # priced: the two matmuls' 60 us of 86 (the copy and the add were recorded without shapes)
    assert a.sol_summary["covered_frac"] == pytest.approx(60 / 86)
    assert a.sol_summary["unpriced_no_shapes_ns"] == 20_000


def test_each_collective_has_its_own_overlap(tmp_path: Path) -> None:
    d = base()  # allreduce [100, 200) overlaps compute 40%; a broadcast [85, 95) runs fully under matmul A
    d["traceEvents"] += [mk._launch(9, 1020, 60)[0], mk._kernel("ncclKernel_Broadcast_RING_LL_Sum_int8_t", 85, 10,
                                                                  1020, 9, stream=21)]
    a = analyze(write(tmp_path, d))
    ov = {r["kind"]: r["overlap"] for r in a.collectives.iter_rows(named=True)}
    assert ov == {"allreduce": pytest.approx(0.4), "broadcast": 1.0}
    assert a.overlap["overlap"][0] == pytest.approx(50 / 110)  # the rank's: (40 + 10) / (100 + 10)


@pytest.mark.parametrize("folder", ["param_dlrm_8rank", "ns_resolution_trace", "nccl_parser_config",
                                    "tracelens_h100/Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"])
def test_what_to_fix_first_never_adds_up_to_more_than_the_step(traces: Path, folder: str) -> None:
    a = analyze(traces / folder)
    t = a.temporal.filter(pl.col("step") >= 0)
    step = float((t if t.height else a.temporal)["window"].mean())
    o = a.opportunities
    assert o.height and float(o["recover_ns"].sum()) <= step
    assert (o["recover_ns"] <= o["alone_ns"]).all() and (o["recover_frac"] <= 1).all()


def test_overlapping_items_are_counted_once(tmp_path: Path) -> None:
    from trainperf.trace.analyses.advice import count_once

    rows = [{"kind": "fp32_matmul", "alone_ns": 80.0, "part": "compute"},
            {"kind": "far_from_sol", "alone_ns": 50.0, "part": "compute"},
            {"kind": "launch_bound", "alone_ns": 30.0, "part": "host"}]
    out = {r["kind"]: r for r in count_once([dict(r, title="", evidence="", action="") for r in rows],
                                            {"compute": 100.0, "host": 30.0, "wait": 0.0, "copy": 0.0}, 130.0)}
    assert out["far_from_sol"]["recover_ns"] == 20.0 and out["far_from_sol"]["overlaps"] == "fp32_matmul"
    assert sum(r["recover_ns"] for r in out.values()) == 130.0


def test_cpu_only_trace_gets_host_time_by_op(tmp_path: Path) -> None:
    """A CPU-only step [0, 100) us: aten::linear [10, 50) holding aten::addmm [12, 42) holding aten::mul
    [20, 30); aten::relu [60, 70). Self: linear 10, addmm 20, mul 10, relu 10; in ops 50, outside 50."""
    ev = [mk._x("user_annotation", "ProfilerStep#3", 0, 100), mk._x("cpu_op", "aten::linear", 10, 40),
          mk._x("cpu_op", "aten::addmm", 12, 30), mk._x("cpu_op", "aten::mul", 20, 10),
          mk._x("cpu_op", "aten::relu", 60, 10)]
    a = analyze(write(tmp_path, {"traceEvents": ev}))
    own = dict(a.host_ops.select("name", "self_ns").iter_rows())
    assert own == {"aten::linear": 10_000, "aten::addmm": 20_000, "aten::mul": 10_000, "aten::relu": 10_000}
    h = a.host.row(0, named=True)
    assert (h["steps"], h["window_ns"], h["in_ops_ns"], h["outside_ops_ns"]) == (1, 100_000, 50_000, 50_000)
    text = analysis_text(a.to_dict())
    assert "Host time by op (us, per step" in text and "GPU analyses are empty" not in text


def test_every_table_names_its_unit_and_scope(traces: Path) -> None:
    text = analysis_text(analyze(traces / "param_dlrm_8rank").to_dict())
    titles = [ln for ln in text.splitlines() if ln and ln[0].isupper() and "(" in ln and not ln[0].isdigit()]
    tables = [t for t in titles if not t.startswith(("GPU step", "What to fix"))]
    assert len(tables) >= 6
    assert all(any(f"({u}," in t for u in ("s", "ms", "us", "ns")) for t in tables), tables
    assert all("per step" in t or "whole trace" in t for t in tables), tables


def test_comparison_deltas_are_signed_in_the_tables_unit(traces: Path) -> None:
    from trainperf.report.trace_text import render_comparison
    from trainperf.trace import compare_traces

    c = compare_traces(traces / "trace_compare" / "base", traces / "trace_compare" / "test")
    import io

    out = io.StringIO()
    render_comparison(c, out=out)
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("window"))
    assert line.split()[1:4] == ["165.53", "110.38", "-55.15"]  # ms, not "-55148.5 us"
