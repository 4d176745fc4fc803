"""One-line refusals and exit codes that scripts rely on: --version, non-finite GPU numbers, failed fleet rows."""

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from trainperf import __version__
from trainperf.cli import app
from trainperf.hardware import get_gpu

GPUS = Path(__file__).resolve().parents[2] / "src" / "trainperf" / "hardware" / "data" / "gpus"


def test_version_flag() -> None:
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == __version__


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_gpu_toml_with_non_finite_number_is_refused_by_field(tmp_path: Path, value: str) -> None:
    text = (GPUS / "h100_sxm.toml").read_text()
    assert "hbm_bw_GBps = 3350" in text
    bad = tmp_path / "what_if.toml"
    bad.write_text(text.replace("hbm_bw_GBps = 3350", f"hbm_bw_GBps = {value}"))
    with pytest.raises(ValueError, match=r"hbm_bw_GBps = .*(finite|> 0)"):
        get_gpu(str(bad))


def test_fleet_exits_non_zero_when_a_row_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import trainperf.fleet as fleet

    real = fleet.fleet_sweep

    def one_error(names, gpus, cfg, **kw):  # type: ignore[no-untyped-def]
        res = real(list(names)[:1], gpus, cfg, **kw)
        bad = res.table.with_columns(pl.lit("error").alias("status"), pl.lit("injected failure").alias("reason"))
        return dataclasses.replace(res, table=bad)

    monkeypatch.setattr(fleet, "fleet_sweep", one_error)
    r = CliRunner().invoke(app, ["fleet", "resnet50", "--flavor", "tiny"])
    assert r.exit_code == 1, r.output
    assert "1 of 1 rows failed" in r.output


@pytest.mark.parametrize(("flag", "value", "valid"), [("--zero", "zero9", "ddp, zero1, zero2, zero3"),
                                                       ("--recompute", "half", "none, selective, full, auto")])
def test_plan_enum_flags_list_the_valid_choices(flag: str, value: str, valid: str) -> None:
    r = CliRunner().invoke(app, ["plan", "gpt2-124m", "--seq", "1024", flag, value])
    assert r.exit_code != 0
    assert str(r.exception) == f"{flag} {value!r}: choose one of {valid}"


@pytest.mark.parametrize(("args", "msg"), [
    (["predict", "resnet50", "--flavor", "tiny", "--seq", "512"], "resnet50 has no seq (--seq 512); its sizes are batch, image_size"),
    (["predict", "gpt2-124m", "--flavor", "tiny", "--image-size", "224"], "gpt2-124m has no image_size"),
])
def test_a_size_the_model_has_no_use_for_is_refused(args: list[str], msg: str) -> None:
    r = CliRunner().invoke(app, args)
    assert r.exit_code != 0 and str(r.exception).startswith(msg)


def test_negative_top_is_a_usage_error() -> None:
    r = CliRunner().invoke(app, ["predict", "resnet50", "--top", "-5"])
    assert r.exit_code == 2


def test_track_prints_plain_progress_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from trainperf.report.progress import track

    assert list(track(range(50), "work", total=50)) == list(range(50))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("work: 1/50") and lines[-1].startswith("work: 50/50")
    assert 5 <= len(lines) <= 12  # one per 10%, not one per item


@pytest.mark.parametrize("where", ["import", "call"])
def test_user_module_that_calls_sys_exit_gets_one_clear_error(tmp_path: Path, where: str) -> None:
    from trainperf.capture.user import UserCodeError, load_user_workload

    f = tmp_path / "mine.py"
    f.write_text("import sys\nsys.exit(3)\n" if where == "import" else "import sys\ndef make():\n    sys.exit(3)\n")
    with pytest.raises(UserCodeError, match=r"called sys.exit\(3\)"):
        load_user_workload(f"{f}:make")


@pytest.mark.parametrize(("knob", "value"), [("seq", 10**9), ("batch", 10**9), ("image_size", 10**6)])
def test_absurd_sizes_are_refused_on_the_single_gpu_path(knob: str, value: int) -> None:
    from trainperf.workloads import get_workload
    from trainperf.workloads.registry import Size

    name = "resnet50" if knob == "image_size" else "llama3.2-1b"
    with pytest.raises(ValueError, match=rf"{value} must be in 1\.\."):
        get_workload(name).build("tiny", Size(**{knob: value}))
