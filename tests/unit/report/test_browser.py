"""Every HTML report in a real browser (Debian's headless Chromium): each page renders, its charts exist and
draw, no element or byte of it points at the network, timeline blocks carry tooltips, and the timeline's CSS
zoom widens it and swaps its ticks. A screenshot of each page goes to $TRAINPERF_ARTIFACTS (CI keeps them),
else to the test's tmp folder. Skipped where no chromium binary is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainperf.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)")]
TRACES = Path(__file__).resolve().parents[3] / "data" / "traces"
BERT = TRACES / "tracelens_h100" / "gaunernst_bert-small-uncased__1016001.json.gz"

# page -> (CLI arguments before --html, the chart classes it must draw); tiny inputs, a few seconds each
PAGES: dict[str, tuple[list[str], set[str]]] = {
    "analyze": (["analyze", str(BERT)], {"timeline", "bars", "categories", "roofline"}),
    "compare": (["analyze", str(TRACES / "trace_compare" / "base"), "--compare", str(TRACES / "trace_compare" / "test")],
                {"bars"}),
    "predict": (["predict", "gpt2-124m", "--flavor", "tiny", "--gpu", "H100-SXM"], {"bars", "timeline", "roofline"}),
    "plan": (["plan", "llama3.1-8b", "--cluster", "dgx-h100", "--gpus", "64", "--tp", "8", "--gbs", "64", "--seq",
              "4096"], {"bars"}),
    "fleet": (["fleet", "gpt2-124m", "--flavor", "tiny", "--gpu", "H100-SXM"], {"mfu"}),
    "study": (["study", "llama3.2-1b", "--gpus", "8", "--gbs", "64", "--seq", "2048", "--workers", "0", "--vary",
               "hbm_bw=1,2"], set()),
}
DRAWN = {"rect", "circle", "line", "polyline", "path", "polygon"}

# run inside the analyze page: zoom the timeline to 4x and report what changed
PROBE = """<script>
const tl = document.querySelector('.tl'), inner = tl.querySelector('.tlin');
const shown = z => [...tl.querySelectorAll('.tlaxis .k' + z)].filter(e => getComputedStyle(e).display != 'none').length;
const w1 = inner.getBoundingClientRect().width, before = shown(1);
tl.querySelector('.z4').checked = true;
const probe = document.createElement('pre');
probe.id = 'probe';
probe.textContent = [inner.getBoundingClientRect().width / w1, before, shown(1), shown(4)].join(' ');
document.body.append(probe);
</script>"""


class _Dom(HTMLParser):
    """Per top-level <svg>: its classes, how many of each shape it draws and how many shapes have a <title>;
    every src/href value; heatmap cells."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[tuple[set[str], dict[str, int]]] = []
        self.refs: list[str] = []
        self.heat_cells = 0
        self._depth, self._shape, self._in_heat = 0, "", False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]
        if tag == "svg":
            if self._depth == 0:
                self.svgs.append((set((a.get("class") or "").split()), {"drawn": 0, "titled": 0}))
            self._depth += 1
        elif self._depth and tag in DRAWN:
            n = self.svgs[-1][1]
            n["drawn"] += 1
            n[tag] = n.get(tag, 0) + 1
            self._shape = tag
        elif self._depth and tag == "title" and self._shape:
            self.svgs[-1][1]["titled"] += 1
        elif tag == "table":
            self._in_heat = "heat" in (a.get("class") or "")
        elif tag == "td" and self._in_heat:
            self.heat_cells += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._depth -= 1
        elif tag in DRAWN:
            self._shape = ""
        elif tag == "table":
            self._in_heat = False


def _chromium(page: Path, shot: Path, profile: Path) -> str:
    """The DOM after the page's scripts ran, and a screenshot."""
    assert CHROMIUM is not None
    r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={profile}", "--window-size=1400,1000", f"--screenshot={shot}",
                        "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, check=False)
    assert r.returncode == 0 and "<body" in r.stdout, r.stderr[-2000:]
    return r.stdout


def _write(name: str, tmp: Path) -> Path:
    html = tmp / f"{name}.html"
    r = CliRunner().invoke(app, [*PAGES[name][0], "--html", str(html)])
    assert r.exit_code == 0, (name, r.output, r.exception)
    return html


def test_every_page_renders_offline_with_its_charts(tmp_path: Path) -> None:
    # one test for all pages: under pytest-xdist one worker renders them, one writer per screenshot
    shots = Path(os.environ.get("TRAINPERF_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for name, (_, charts) in PAGES.items():
        html = _write(name, tmp_path)
        raw, dom = html.read_text(), _chromium(html, shots / f"{name}.png", tmp_path / "profile")
        assert not re.search(r"https?://", raw, re.I), (name, re.findall(r"https?://\S{0,60}", raw, re.I)[:3])
        assert "<script" not in raw and "@import" not in raw and "url(" not in raw, name
        d = _Dom()
        d.feed(dom)
        assert not [u for u in d.refs if re.match(r"\s*(https?:)?//", u, re.I)], (name, d.refs)
        assert "<h1>" in dom and (shots / f"{name}.png").stat().st_size > 10_000, name  # drawn, not blank
        drawn = {c: n["drawn"] for cls, n in d.svgs for c in cls}
        assert all(drawn.get(c, 0) > 0 for c in charts), (name, charts, drawn)
        for cls, n in d.svgs:
            if "timeline" in cls:  # every block has its tooltip
                assert n["titled"] == n.get("rect", 0) > 0, (name, n)
        assert name != "study" or d.heat_cells >= 2
        times = re.findall(r"<td([^>]*)>-?[\d.]+ (?:s|ms|us)(?:/step)?</td>", dom)
        assert all('class="n"' in attrs for attrs in times), (name, "a time cell that may wrap")
        assert times or name == "plan", name


def test_timeline_zoom_is_css_that_works(tmp_path: Path) -> None:
    probed = tmp_path / "probe.html"
    probed.write_text(_write("analyze", tmp_path).read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium(probed, tmp_path / "probe.png", tmp_path / "profile")
    m = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert m, dom[-500:]
    ratio, ticks1, ticks1_zoomed, ticks4_zoomed = map(float, m.group(1).split())
    assert ratio == pytest.approx(4.0, rel=0.02)  # 4x: the timeline is four times as wide
    assert ticks1 > 2 and ticks1_zoomed == 0 and ticks4_zoomed > ticks1  # with ticks at the new scale
