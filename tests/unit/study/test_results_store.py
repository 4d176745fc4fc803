"""The DuckDB results store (study/store.py): round trip, compare, and refusals that keep files intact."""

from pathlib import Path

import polars as pl
import pytest

from trainperf.study.store import check_db_path, compare_runs, find_run, list_runs, read_rows, write_run
from trainperf.study.sweep import STUDY_SCHEMA


def _table(times: list[float], status: str = "ok") -> pl.DataFrame:
    rows = []
    for i, t in enumerate(times):
        row = dict.fromkeys(STUDY_SCHEMA)
        row.update(workload="llama3.2-1b", gpus=8, gbs=64, seq=2048, point=f"hbm_bw={i + 1}",
                   knobs=f'{{"hbm_bw": {i + 1}.0}}', status=status, step_time_s=t)
        rows.append(row)
    return pl.DataFrame(rows, schema=STUDY_SCHEMA)


def test_round_trip_list_show_compare(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    a = write_run(db, "study", _table([2.0, 1.0]), hardware="dgx-h100", args={"vary": ["hbm_bw=1,2"]})
    b = write_run(db, "study", _table([1.0, 0.5, 0.25]), hardware="dgx-h100", args={})
    runs = list_runs(db)
    assert {r.run_id for r in runs} == {a, b} and {r.rows for r in runs} == {2, 3}
    ra = find_run(db, a[:6])
    assert ra.run_id == a and ra.kind == "study" and ra.trainperf_version
    back = read_rows(db, ra)
    assert back.schema == pl.Schema(STUDY_SCHEMA) and back["step_time_s"].to_list() == [2.0, 1.0]
    cmp = compare_runs(db, ra, find_run(db, b))
    assert cmp["point"].to_list() == ["hbm_bw=1", "hbm_bw=2", "hbm_bw=3"]
    assert cmp["b_over_a"].to_list()[:2] == [0.5, 0.5] and cmp["a_s"].to_list()[2] is None
    assert list_runs(db, kind="fleet") == []


def test_unknown_and_ambiguous_run_ids(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    write_run(db, "study", _table([1.0]), hardware="x", args={})
    with pytest.raises(ValueError, match=r"run 'zzz': not in .*results list"):
        find_run(db, "zzz")
    write_run(db, "study", _table([1.0]), hardware="x", args={})
    with pytest.raises(ValueError, match="ambiguous"):
        find_run(db, "")


def test_not_a_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("my notes\n")
    with pytest.raises(ValueError, match=r"notes.txt: not a DuckDB results database"):
        write_run(bad, "study", _table([1.0]), hardware="x", args={})
    assert bad.read_text() == "my notes\n"


def test_failed_write_leaves_earlier_runs(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    write_run(db, "study", _table([1.0]), hardware="x", args={})
    with pytest.raises(ValueError, match="lack columns"):
        write_run(db, "study", _table([1.0]).drop("mfu"), hardware="x", args={})
    assert len(list_runs(db)) == 1


@pytest.mark.parametrize("where", ["folder", "missing_parent", "package"])
def test_bad_db_paths(tmp_path: Path, where: str) -> None:
    import trainperf

    path = {"folder": tmp_path, "missing_parent": tmp_path / "no" / "r.duckdb",
            "package": Path(trainperf.__file__).parent / "r.duckdb"}[where]
    with pytest.raises(ValueError, match="--db"):
        check_db_path(path)


def test_reading_a_missing_db(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such results database"):
        list_runs(tmp_path / "none.duckdb")
    assert not (tmp_path / "none.duckdb").exists()
