"""Reader and loader: times, links, steps, chunked parsing, multi-rank folders and every bad input."""

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from trainperf.trace import EVENTS_SCHEMA, TraceError, load_trace
from trainperf.trace.chunk import _frame_python, parse_raw, typed, with_ts_text
from trainperf.trace.reader import iter_frames, read_bytes, read_file


def test_events_table_schema_and_links(fixtures: Path) -> None:
    ts = load_trace(fixtures / "overlap40.json")
    ev = ts.events
    assert dict(ev.schema) == EVENTS_SCHEMA
    assert ts.ranks[0].rank == 0 and ts.ranks[0].device_name == "NVIDIA H100 80GB HBM3"
    g = ev.filter("gpu").sort("ts")
    assert g["ts"].to_list() == [80_000, 100_000, 170_000, 220_000, 250_000]  # integer ns
    assert g["category"].to_list() == ["matmul", "communication", "matmul", "copy", "elementwise"]
    assert g["stream"].to_list() == [7, 20, 7, 7, 7]
    assert g["step"].to_list() == [1] * 5
    # kernel -> runtime call (correlation) -> innermost cpu_op (External id): aten::mm, not aten::linear
    mm = g.row(0, named=True)
    rt = ev.filter(pl.col("idx") == mm["launch_idx"]).row(0, named=True)
    op = ev.filter(pl.col("idx") == mm["op_idx"]).row(0, named=True)
    assert rt["name"] == "cudaLaunchKernel" and mm["launch_ts"] == 12_000
    assert op["name"] == "aten::mm" and op["shapes"].startswith("[[[64,128],[128,256]]")
    c = g.filter(pl.col("category") == "communication").row(0, named=True)
    assert (c["collective"], c["in_nelems"], c["group_size"], c["coll_dtype"]) == ("allreduce", 1_000_000, 2, "Float")


def test_ns_epoch_timestamps_stay_exact(fixtures: Path) -> None:
    us = load_trace(fixtures / "overlap40.json").events.filter("gpu")
    ns = load_trace(fixtures / "ns_epoch.json")
    assert ns.ranks[0].time_unit == "ns"
    g = ns.events.filter("gpu")
    assert (g["ts"] - 1_700_000_000_000_000_000).to_list() == us["ts"].to_list()
    assert g["dur"].to_list() == us["dur"].to_list()


def test_epoch_microseconds_with_ns_digits_stay_exact(tmp_path: Path) -> None:
    # float64 holds epoch-scale us only to 0.25 us: the reader takes these ts from the text
    evs = [f'{{"ph": "X", "cat": "kernel", "name": "k", "ts": 1712195495519{i:03d}.{(i * 37) % 1000:03d}, "dur": 1.5}}'
           for i in range(300)]
    evs.insert(5, '{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "x"}}')  # no ts
    p = tmp_path / "t.json"
    p.write_text('{"traceEvents": [' + ",\n".join(evs) + "]}")
    for chunk in (1 << 20, 512):
        ev, _ = read_file(p, chunk_bytes=chunk)
        ts = ev.filter(pl.col("ph") == "X")["ts"].to_list()
        assert ts == [1712195495519_000_000 + i * 1000 + (i * 37) % 1000 for i in range(300)]
    # a ts key that is not the event's own breaks the alignment: the float values are kept, never shifted
    buf = b'[{"ph": "X", "ts": 1712195495519000.123, "args": {"ts": 5}}]'
    assert "ts_text" not in with_ts_text(parse_raw(buf), buf).columns
    # same count but shifted (args before ts, and a ts written as a string): the texts are not used
    p.write_text('{"traceEvents": [{"ph": "X", "name": "a", "args": {"ts": 7}, "ts": 1712195495519000.123}, '
                 '{"ph": "X", "name": "c", "ts": "1712195495520000.5"}]}')
    ev, _ = read_file(p)
    assert abs(ev["ts"][0] - 1712195495519000_123) < 250 and ev["ts"][1] == 1712195495520000_500


def test_base_time_nanoseconds_added(tmp_path: Path, fixtures: Path) -> None:
    doc = (fixtures / "overlap40.json").read_text().replace('"traceName"', '"baseTimeNanoseconds": 1000000000, "traceName"')
    (tmp_path / "t.json").write_text(doc)
    a = load_trace(tmp_path / "t.json").events.filter("gpu")["ts"].min()
    assert a == 1_000_000_000 + 80_000


def test_events_written_before_device_properties(fixtures: Path) -> None:
    a = load_trace(fixtures / "overlap40.json").events
    b = load_trace(fixtures / "events_first.json")
    assert b.ranks[0].device_name == "NVIDIA H100 80GB HBM3"
    assert b.events.drop("idx").equals(a.drop("idx"))


def test_chunked_parse_equals_whole_parse(traces: Path) -> None:
    p = traces / "nccl_parser_config" / "nccl_data.json.gz"
    whole, meta = read_file(p)
    small, _ = read_file(p, chunk_bytes=64 << 10)  # ~240 chunks with boundary retries
    assert small.equals(whole)
    assert whole.height == 40_573 and meta["distributedInfo"]["world_size"] == 2


def test_chunk_split_inside_strings_is_retried(tmp_path: Path) -> None:
    # event names holding "}, {" make naive splits invalid; the reader must retry the next boundary
    evs = ",".join(f'{{"ph": "X", "name": "a}}, {{b", "ts": {i}, "dur": 1}}' for i in range(200))
    p = tmp_path / "t.json"
    p.write_text(f'{{"traceEvents": [{evs}]}}')
    data = read_bytes(p)
    _, gen = iter_frames(data, p, chunk_bytes=100)
    frames = list(gen)
    assert len(frames) > 10 and sum(f.height for f in frames) == 200
    assert set(pl.concat(frames)["name"]) == {"a}, {b"}


def test_python_fallback_matches_polars_path(traces: Path) -> None:
    import gzip

    import orjson

    doc = orjson.loads(gzip.decompress((traces / "amd_trace" / "mi250_minitoy_train_ROCm6_2_kineto.json.gz").read_bytes()))
    buf = orjson.dumps(doc["traceEvents"])
    fast, slow = parse_raw(buf), _frame_python(doc["traceEvents"])
    assert typed(fast, "us")[0].drop("shapes").equals(typed(slow, "us")[0].drop("shapes"))


def test_shapes_read_by_polars_match_orjson(traces: Path) -> None:
    # Input Dims of one tensor per argument are typed by polars; the JSON text must be what orjson writes
    import gzip

    import orjson

    from trainperf.trace.chunk import _frame_shapes, _shapes

    data = gzip.decompress(next((traces / "param_dlrm_8rank").glob("*.json.gz")).read_bytes())
    evs = orjson.loads(data)["traceEvents"]
    buf = orjson.dumps(evs)
    df = _frame_shapes(buf)
    assert df is not None and df["shapes"].drop_nulls().len() > 1000
    assert df["shapes"].to_list() == [_shapes(e) for e in evs]
    # arguments that are lists of tensors nest one level deeper: those chunks go to orjson
    assert _frame_shapes(b'[{"ph": "X", "ts": 1, "args": {"Input Dims": [[[1, 2], [3]]]}}]') is None


def test_multi_member_and_padded_gzip(tmp_path: Path, fixtures: Path) -> None:
    import gzip

    text = (fixtures / "overlap40.json").read_bytes()
    half = len(text) // 2
    p = tmp_path / "t.json.gz"
    p.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]) + bytes(100))
    a, _ = read_file(fixtures / "overlap40.json")
    b, _ = read_file(p, chunk_bytes=512)
    assert b.equals(a)


def test_odd_values_fall_back_without_error(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text('{"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": "10.5", '
                 '"dur": 1e-3, "args": [1, 2]}, 5, {"ph": "X", "cat": "cpu_op", "name": "o", "pid": "main", '
                 '"tid": 1, "ts": 9, "dur": 3, "args": {"External id": "12"}}]}')
    ev = load_trace(p).events.sort("ts")
    assert ev["ts"].to_list() == [9_000, 10_500] and ev["dur"].to_list() == [3_000, 1]
    assert ev["pid"].to_list() == [None, 0] and ev["external_id"].to_list() == [12, None]


@pytest.mark.parametrize("name, message", [
    ("truncated.json.gz", "truncated or corrupt gzip"),
    ("invalid.json", "invalid JSON (trailing comma"),
    ("empty.json", "empty file"),
    ("foreign.json", "JSON without 'traceEvents'"),
    ("no_events.json", "has no events"),
])
def test_bad_files_raise_one_clear_error(fixtures: Path, name: str, message: str) -> None:
    with pytest.raises(TraceError) as e:
        load_trace(fixtures / "bad" / name)
    assert name in str(e.value) and message in str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_missing_fields_are_skipped_with_a_warning(fixtures: Path) -> None:
    ts = load_trace(fixtures / "bad" / "missing_fields.json")
    assert ts.warnings == ("missing_fields.json: skipped 2 events without 'ph' or 'ts'",)
    assert ts.events.filter("gpu").height == 5


def test_folder_with_a_bad_file_warns_and_reads_the_rest(tmp_path: Path, fixtures: Path) -> None:
    (tmp_path / "rank0.json").write_bytes((fixtures / "overlap40.json").read_bytes())
    (tmp_path / "rank1.json.gz").write_bytes((fixtures / "bad" / "truncated.json.gz").read_bytes())
    ts = load_trace(tmp_path)
    assert ts.rank_ids() == [0]
    assert len(ts.warnings) == 1 and "rank1.json.gz: truncated or corrupt gzip" in ts.warnings[0]


def test_two_ranks_load_in_parallel_processes(fixtures: Path) -> None:
    seq = load_trace(fixtures / "two_ranks", parallel=False)
    par = load_trace(fixtures / "two_ranks", parallel=True)
    assert par.rank_ids() == [0, 1] and par.warnings == ()
    assert par.events.equals(seq.events)


def test_duplicated_ranks_keep_the_first(fixtures: Path) -> None:
    ts = load_trace(fixtures / "dup_ranks")
    assert ts.rank_ids() == [0]
    assert ts.warnings == ("rank 0 appears in a0.json and a1.json; keeping a0.json",)


def test_mixed_jobs_keep_the_majority_world_size(fixtures: Path) -> None:
    ts = load_trace(fixtures / "mixed")
    assert ts.rank_ids() == [0, 1]
    assert "world sizes [2, 8]" in ts.warnings[0] and "leaving out job_b_rank0.json" in ts.warnings[0]


def test_clock_skew_is_detected_and_aligned(fixtures: Path) -> None:
    ts = load_trace(fixtures / "skew")
    assert len(ts.warnings) == 1 and "clock skew of +50.000 s" in ts.warnings[0]
    starts = ts.events.filter("gpu").group_by("rank").agg(pl.col("ts").min()).sort("rank")["ts"].to_list()
    assert starts[0] == starts[1]


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "nope.json")
    with pytest.raises(TraceError, match=r"no \*.json or \*.json.gz trace files"):
        load_trace(tmp_path)


def test_cli_bad_input_is_one_line_exit_2(fixtures: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "trainperf", "analyze", str(fixtures / "bad" / "invalid.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("error: ") and "invalid.json" in r.stderr


def test_analyze_never_imports_torch(fixtures: Path) -> None:
    code = ("import sys; from trainperf.cli import app; from typer.testing import CliRunner; "
            f"r = CliRunner().invoke(app, ['analyze', {str(fixtures / 'overlap40.json')!r}, '--json']); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pandas', 'plotly')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_streaming_with_tiny_chunks_matches(fixtures: Path, tmp_path: Path) -> None:
    for name in ("events_first.json", "overlap40.json", "sync.json.gz"):
        a, ma = read_file(fixtures / name)
        b, mb = read_file(fixtures / name, chunk_bytes=256)
        assert b.equals(a) and ma["deviceProperties"] == mb["deviceProperties"]
    # a syntax error deep inside a long events array is reported with the file's name
    evs = ",".join(f'{{"ph": "X", "name": "k", "ts": {i}, "dur": 1}}' for i in range(2000))
    cut = evs.index("},{", 30_000)
    bad = evs[:cut] + "}}" + evs[cut:]  # an extra closing brace between two events
    (tmp_path / "t.json").write_text('{"traceEvents": [' + bad + '], "x": 1}')
    with pytest.raises(TraceError, match=r"t\.json: invalid JSON"):
        read_file(tmp_path / "t.json", chunk_bytes=1024)
