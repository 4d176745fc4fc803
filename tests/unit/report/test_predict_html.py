"""`trainperf predict --html`: one self-contained page with the step by category, a roofline with ticks
and the top ops; the cluster path writes plan's page."""

import re
from pathlib import Path

from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.report.svg import Point, roofline


def _external_urls(page: str) -> set[str]:
    return set(re.findall(r"https?://[^\"' )]+", page)) - {"http://www.w3.org/2000/svg"}


def test_predict_html_is_self_contained_with_a_ticked_roofline(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    r = CliRunner().invoke(app, ["predict", "gpt2-124m", "--flavor", "tiny", "--html", str(out)])
    assert r.exit_code == 0, (r.output, r.exception)
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and not _external_urls(page)
    assert "Roofline of the predicted ops" in page and page.count("<circle") > 5
    assert "<td>matmul</td>" in page and "FLOP / byte" in page and ">100</text>" in page


def test_predict_html_on_the_cluster_path_and_bad_target(tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    r = CliRunner().invoke(app, ["predict", "llama3.1-8b", "--cluster", "dgx-h100", "--gpus", "8", "--gbs", "8",
                                 "--html", str(out)])
    assert r.exit_code == 0, (r.output, r.exception)
    assert "trainperf plan" in out.read_text()
    r = CliRunner().invoke(app, ["predict", "gpt2-124m", "--flavor", "tiny", "--html", str(tmp_path / "no" / "x.html")])
    assert r.exit_code != 0 and "--html" in str(r.exception)


def test_roofline_ticks_every_decade() -> None:
    pts = [Point(intensity=0.5, tflops=1.0, weight=1.0, colour="#000", title="a"),
           Point(intensity=300.0, tflops=500.0, weight=2.0, colour="#111", title="b")]
    svg = roofline(pts, {989.5: "bf16"}, 3.35)
    for tick in ("1", "10", "100", "1000"):  # x from 0.25, y from 0.5: the decades inside
        assert f">{tick}</text>" in svg
    assert svg.count("<circle") == 2 and "bf16 990" in svg


def test_fleet_html_bars_table_and_priorities(tmp_path: Path) -> None:
    out = tmp_path / "f.html"
    r = CliRunner().invoke(app, ["fleet", "gpt2*", "--flavor", "tiny", "--priorities", "--html", str(out)])
    assert r.exit_code == 0, (r.output, r.exception)
    page = out.read_text()
    assert "<script" not in page and not _external_urls(page) and "gpt2-124m" in page
    assert "Priorities: fixes ranked" in page and page.count("<rect") >= 1
    r = CliRunner().invoke(app, ["fleet", "--cluster", "dgx-h100", "--gpus", "8", "--html", str(out)])
    assert r.exit_code != 0 and "--html" in str(r.exception)
