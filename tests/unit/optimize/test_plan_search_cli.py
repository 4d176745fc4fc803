"""`trainperf plan --search` JSON, plan/predict --cluster flags applied or refused, bad input in one line."""

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from trainperf.cli import app
from trainperf.parallel.api import plan_from_args, predict_request
from trainperf.parallel.estimate import PlanEstimate

LAYOUT_KEYS = {"tp", "pp", "vp", "cp", "ep", "dp", "mbs", "zero", "recompute", "precision", "tokens_per_s_per_gpu",
               "step_time_s", "mfu", "mem_gib"}
JOB = ["--cluster", "dgx-h100", "--gpus", "16", "--gbs", "32", "--seq", "4096"]
CLUSTER = ["llama3.2-1b", "--cluster", "dgx-h100", "--gpus", "16", "--tp", "2", "--gbs", "32", "--seq", "4096"]


def _run(args: list[str]) -> tuple[int, str, BaseException | None]:
    r = CliRunner().invoke(app, args)
    return r.exit_code, r.output, r.exception


def test_search_json_has_the_fixed_shape() -> None:
    code, out, _ = _run(["plan", "llama3.2-1b", *JOB, "--search", "--top", "3", "--json"])
    assert code == 0, out
    d = orjson.loads(out)
    assert set(d) == {"best", "candidates", "evaluated", "infeasible", "elapsed_s"}
    assert len(d["candidates"]) == 3 and d["best"] == d["candidates"][0]
    for lay in d["candidates"]:
        assert set(lay) >= LAYOUT_KEYS
        assert lay["tp"] * lay["pp"] * lay["cp"] * lay["dp"] == 16
        assert lay["mem_gib"] < 80 and 0 < lay["mfu"] < 1
    speeds = [lay["tokens_per_s_per_gpu"] for lay in d["candidates"]]
    assert speeds == sorted(speeds, reverse=True)
    assert isinstance(d["evaluated"], int) and d["evaluated"] >= sum(d["infeasible"].values()) + 3


def test_search_text_shows_what_separates_the_layouts_and_the_time_to_train() -> None:
    code, out, _ = _run(["plan", "llama3.2-1b", *JOB, "--search", "--top", "2", "--tokens", "1e12"])
    assert code == 0, out
    assert "bubble" in out and "exposed comm" in out and "free" in out
    assert "time to train 1e+12 tokens" in out and "GPU-hours" in out


@pytest.mark.parametrize(("args", "msg"), [
    (["plan", "llama3.1-8b", "--zero", "zero9"], "--zero 'zero9': choose one of ddp, zero1, zero2, zero3"),
    (["plan", "llama3.1-8b", "--recompute", "half"], "choose one of none, selective, full, auto"),
    (["plan", "llama3.1-8b", "--gpus", str(10**23)], "--gpus 100000000000000000000000: must be in 1..1,048,576"),
    (["plan", "llama3.1-8b", "--seq", "1000000000"], "--seq 1000000000: must be in 1..16,777,216"),
    (["plan", "gpt2-124m", "--seq", "2048"], "gpt2-124m has 1,024 positions; use --seq <= 1024"),
    (["predict", "gpt2-124m", "--cluster", "dgx-h100", "--seq", "8192"], "gpt2-124m has 1,024 positions"),
    (["plan", "llama3.1-8b", "--search"], "--search needs --gbs"),
    (["plan", "llama3.1-8b", "--tokens", "1e12"], "--tokens applies to --search only"),
    (["plan", "llama3.1-8b", "--precision", "fp32"], "--precision 'fp32': choose one of bf16"),
    (["plan", "resnet50"], "'resnet50' is a cnn model; the parallel planner covers decoder LLMs"),
    (["plan", "llama3.1-8b", "--scale", "bf16"], "--scale 'bf16': expected KEY=FACTOR"),
])
def test_bad_input_is_one_line(args: list[str], msg: str) -> None:
    code, _, exc = _run(args)
    assert code != 0 and isinstance(exc, ValueError | KeyError)
    assert msg in str(exc) and "\n" not in str(exc)


def test_negative_top_is_a_usage_error() -> None:
    code, _, _ = _run(["plan", "llama3.2-1b", *JOB, "--search", "--top", "-5"])
    assert code == 2


def _step(args: list[str]) -> float:
    code, out, _ = _run([*args, "--json"])
    assert code == 0, out
    return float(orjson.loads(out)["step_time_s"])


def test_predict_cluster_applies_scale_burst_attention() -> None:
    base = _step(["predict", *CLUSTER])
    assert base == _step(["plan", *CLUSTER])  # one library path: predict --cluster is plan
    faster = _step(["predict", *CLUSTER, "--scale", "bf16=2"])
    assert faster < 0.9 * base  # was the same step time: --scale silently dropped
    assert _step(["plan", *CLUSTER, "--scale", "bf16=2"]) == faster
    assert _step(["predict", *CLUSTER, "--burst"]) < base  # burst clocks above the sustained ones
    assert _step(["predict", *CLUSTER, "--attention", "cudnn"]) != base
    assert _step(["predict", *CLUSTER, "--kernels", "production"]) == base  # what the planner's tables are


@pytest.mark.parametrize("flag", [["--compile"], ["--cuda-graphs"], ["--calibration", "x.toml"], ["--ops"],
                                  ["--top", "5"], ["--channels-last"], ["--flavor", "tiny"], ["--image-size", "224"],
                                  ["--kernels", "as-written"]])
def test_predict_cluster_refuses_what_it_cannot_apply(flag: list[str]) -> None:
    code, _, exc = _run(["predict", *CLUSTER, *flag])
    assert code != 0 and f"{flag[0]} does not apply with --cluster" in str(exc)


def test_plan_from_args_library() -> None:
    req = plan_from_args("llama3.1-8b", cluster="dgx-h100", gpus=16, tp=2, gbs=32, seq=4096, precision="auto",
                         scale="hbm_bw=2", sustained=False)
    assert req.plan.precision == "fp8" and req.cluster.gpu.hbm_bw_GBps == 2 * 3350 and not req.sustained
    assert req.plan.dp == 8 and req.auto_recompute
    est = predict_request(req)
    assert isinstance(est, PlanEstimate) and est.plan.gbs == 32
    assert plan_from_args("gpt2-124m").plan.seq == 1024  # the default seq respects the model's positions


def test_plan_html_pages(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trainperf.cli import app

    one, many = tmp_path / "plan.html", tmp_path / "search.html"
    r = CliRunner().invoke(app, ["plan", "llama3.2-1b", "--gpus", "16", "--tp", "2", "--gbs", "16", "--seq", "2048",
                                 "--html", str(one)])
    assert r.exit_code == 0, r.output
    page = one.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    assert "Memory per GPU" in page and "GiB" in page
    r = CliRunner().invoke(app, ["plan", "llama3.2-1b", "--gpus", "16", "--gbs", "16", "--seq", "2048", "--search",
                                 "--html", str(many)])
    assert r.exit_code == 0, r.output
    assert "Infeasible, by reason" in many.read_text() and "Top " in many.read_text()
    r = CliRunner().invoke(app, ["plan", "llama3.2-1b", "--html", str(tmp_path)])
    assert isinstance(r.exception, ValueError) and "is a folder" in str(r.exception)
