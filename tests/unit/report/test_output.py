"""Safe output writing: atomic replace, refusing inputs, failures leave the old file intact."""

from pathlib import Path

import pytest

from trainperf.report.output import check_output, write_atomic, write_text_atomic


def test_replace_reports_and_keeps_content(tmp_path: Path) -> None:
    p = tmp_path / "out.txt"
    assert write_text_atomic(p, "one") is False
    assert write_text_atomic(p, "two") is True
    assert p.read_text() == "two"
    assert [x.name for x in tmp_path.iterdir()] == ["out.txt"]  # no temporary left behind


def test_failed_write_keeps_old_file(tmp_path: Path) -> None:
    p = tmp_path / "out.txt"
    p.write_text("precious")

    def boom(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ValueError, match="No space left"):
        write_atomic(p, boom)
    assert p.read_text() == "precious"
    assert [x.name for x in tmp_path.iterdir()] == ["out.txt"]


def test_refuses_input_folder_and_file_parent(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text("{}")
    with pytest.raises(ValueError, match="also an input"):
        check_output(tmp_path / "." / "in.json", inputs=[src], flag="--html")
    with pytest.raises(ValueError, match="is a folder"):
        check_output(tmp_path, inputs=[src])
    with pytest.raises(ValueError, match="not a folder"):
        check_output(src / "x.html", inputs=[])
    with pytest.raises(ValueError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.html")
    check_output(tmp_path / "new.html", inputs=[src])  # a fresh name passes
