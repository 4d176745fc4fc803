"""Bad input to `trainperf validate`: one clear line naming the file, never a traceback."""

import subprocess
import sys
from pathlib import Path


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trainperf", "validate", str(path)], capture_output=True, text=True)


def test_non_csv_and_empty_files(tmp_path: Path) -> None:
    bad = tmp_path / "notes.csv"
    bad.write_text("# a heading\n\nsome, prose, with, more, fields, on, this, line\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for p in (bad, empty):
        r = _validate(p)
        assert r.returncode == 2, r.stderr
        assert str(p) in r.stderr and "Traceback" not in r.stderr


def test_csv_without_the_published_columns(tmp_path: Path) -> None:
    p = tmp_path / "other.csv"
    p.write_text("a,b\n1,2\n")
    r = _validate(p)
    assert r.returncode == 2 and "missing columns" in r.stderr
