"""Calibration: typed sections checked at load, resolved once per GPU family into GPURates."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_graphs import attn, eltwise, frame, gemm

from trainperf.hardware import get_gpu
from trainperf.model import ExecConfig, load_calibration, op_times
from trainperf.model.calibration import DEFAULT_CALIBRATION, Calibration, GPURates, MatmulRates


def test_sections_are_typed_and_fits_apply_per_family() -> None:
    base = load_calibration()
    assert isinstance(base.matmul, MatmulRates) and base.matmul.k_half == 96.0
    assert base.matmul.tiles[0] == (256, 128) and len(base.matmul.tiles) == len(base.matmul.tile_rel)
    assert base.host.launch_s == 4.0e-6 and base.footprint.transient_factor == 2.0
    hopper = base.rates("hopper", "nvidia")
    assert isinstance(hopper, GPURates) and hopper.matmul.k_half == 16.0 and hopper.host.launch_s == 3.72e-06
    assert (hopper.gemm_frac, hopper.bw_frac, hopper.ref_tdp_W) == (0.80, 0.89, 700.0)
    assert hopper.attention_fracs == {"flash2": (0.374, 0.26), "cudnn": (0.60, 0.417)}
    assert base.rates("hopper", "nvidia") is hopper  # resolved once


def test_families_without_a_fit_use_their_vendors_fit_and_their_own_tables() -> None:
    base = load_calibration()
    ampere = base.rates("ampere", "nvidia")  # [fit_fallback] nvidia = "hopper"
    assert ampere.matmul.k_half == 16.0 and ampere.gemm_frac == 0.859
    assert ampere.attention_fracs["cudnn"] == ampere.attention_fracs["flash2"] == (0.72, 0.45)
    ada = base.rates("ada", "nvidia")
    assert ada.ref_tdp_W is None and ada.sustained_frac == 0.80  # sustained_frac: the default entry
    assert base.rates("cdna2", "amd").matmul.k_half == 1024.0  # amd = "cdna3"
    assert base.rates("turing", "nvidia").gemm_frac == 0.70  # peak_frac default
    assert base.rates("ampere", "nvidia").bwd_seq_half == 256.0
    assert base.rates("ampere", "nvidia").memory_latency_s("conv") == base.rates("ampere", "nvidia").memory.latency_s


def test_op_times_takes_a_calibration_or_its_rates() -> None:
    gpu = get_gpu("H100-SXM")
    ops = frame([gemm(4096, 4096, 4096), attn(2, 16, 2048, 128), eltwise(2**24)])
    base = load_calibration()
    a = op_times(ops, gpu, ExecConfig(), base)["time_s"].to_list()
    b = op_times(ops, gpu, ExecConfig(), base.rates(gpu.family, gpu.vendor))["time_s"].to_list()
    assert a == b
    with pytest.raises(ValueError, match=r"rates resolved for family 'ampere' given for H100-SXM \(hopper\)"):
        op_times(ops, gpu, ExecConfig(), base.rates("ampere", "nvidia"))


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CALIBRATION.read_text()
    assert old in text
    p = tmp_path / "cal.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(("old", "new", "message"), [
    ("[footprint]", "[footprint_]", r"missing section \[footprint\]"),
    ("k_half = 96.0", "k_halves = 96.0", r"missing \[matmul\] k_half"),
    ("latency_s = 2.5e-6 ", "latency_s = -2.5e-6 ", r"\[memory\] latency_s has value -2\.5e-06; must be a number >= 0"),
    ("cdna3 = 0.601", "cdna3 = 1.601", r"fraction cdna3 = 1\.601 must be in \(0, 1\]"),
    ("tile_rel = [1.0, 1.0, 0.92, 0.80, 0.60]", "tile_rel = [1.0, 1.0]", r"\[matmul\] tiles and tile_rel differ"),
    ('"matmul.k_half" = 16.0', '"matmul.k_half" = -16.0',
     r"\[matmul\] k_half has value -16\.0; must be a number >= 0 \(with \[fit\.hopper\] applied\)"),
    ('"matmul.k_half" = 16.0', '"matmul.k_halff" = 16.0', None),
    ('"matmul.k_half" = 16.0', '"matrix.k_half" = 16.0', r"\[fit\.hopper\]: fit key 'matrix\.k_half' must be section\.key"),
])
def test_a_bad_file_is_refused_at_load_naming_file_section_key_and_value(tmp_path: Path, old: str, new: str,
                                                                          message: str | None) -> None:
    p = _write(tmp_path, old, new)
    if message is None:  # a key no section has is carried, unused (as before typed sections)
        assert load_calibration(p).rates("hopper", "nvidia").matmul.k_half == 96.0
        return
    with pytest.raises(ValueError, match=message) as e:
        load_calibration(p)
    assert str(p) in str(e.value)


def test_with_fit_returns_a_new_checked_calibration() -> None:
    base = load_calibration().for_gpu("hopper", "nvidia")
    c = base.with_fit({"matmul.latency_s": 2e-6, "memory.category_slowdown": {"copy": 1.0}})
    assert c.matmul.latency_s == 2e-6 and dict(c.memory.category_slowdown) == {"copy": 1.0}
    assert base.matmul.latency_s == 5e-06 and isinstance(c, Calibration)
    with pytest.raises(ValueError, match=r"has value -1"):
        base.with_fit({"host.launch_s": -1})
