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
    assert 'class="chart timeline"' in page and "host (issue)" in page and "ops, " in page


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


def test_one_colour_per_name_and_no_wrapping_time_cells() -> None:
    from trainperf.report.html_common import COLORS, table
    from trainperf.vocab import OpCategory

    assert len(set(COLORS.values())) == len(COLORS) and {c.value for c in OpCategory} <= set(COLORS)
    html = table(["op", "time", "share"], [["aten::mm [a b]", "1.20 ms", "-3.4%"]])
    assert "<td>aten::mm [a b]</td><td class='n'>1.20 ms</td><td class='n'>-3.4%</td>" in html


def test_timeline_merges_below_its_resolution_and_ticks_every_zoom() -> None:
    import polars as pl

    from trainperf.report.html_common import ZOOMS, merge_blocks, timeline

    n = 50_000  # 50k 1-us kernels, alternating categories, 1 us apart: 0.1 s
    iv = pl.DataFrame({"lane": [0] * n, "s": [2e-6 * i for i in range(n)], "e": [2e-6 * i + 1e-6 for i in range(n)],
                       "cat": ["matmul", "norm"] * (n // 2), "name": ["k"] * n})
    assert merge_blocks(iv.head(4), 1e-7).height == 4  # above the resolution: one block per kernel
    blocks = merge_blocks(iv, 1e-3)
    assert blocks.height <= 2 * 100 + 1 and blocks["n"].sum() == n
    html = timeline("t", ["GPU"], iv, 0.1)
    assert html.count("<rect") == html.count("<title>") <= 20_000 + 1
    for z in ZOOMS:
        assert f'class="k{z}"' in html and f'id="tl-t-{z}"' in html
    assert all(f">{t} ms</span>" in html for t in (20, 5, 2)) and "http" not in html  # 1x, 4x, 16x steps
