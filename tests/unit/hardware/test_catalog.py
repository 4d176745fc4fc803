"""Hardware catalog: loading, aliases, peaks per precision, what-if scaling, user files, clear errors."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from trainperf.hardware import GPUSpec, get_gpu, list_gpus, load_gpu, measured_anchors
from trainperf.hardware.catalog import GPU_DIR

EXPECTED = {
    "V100-SXM", "A100-SXM-40GB", "A100-SXM-80GB", "A100-PCIe-40GB", "A100-PCIe-80GB", "H100-SXM", "H100-PCIe",
    "H100-SXM-96GB-HBM2e", "H200", "B200", "B300", "GB200", "GB300", "L40S", "L4", "RTX-4090", "RTX-2080-Ti",
    "MI250X", "MI250-GCD", "MI250X-GCD", "MI300X", "MI325X",
}


def test_catalog_has_every_gpu_and_a_source_for_every_number() -> None:
    gpus = {g.name: g for g in list_gpus()}
    assert set(gpus) >= EXPECTED
    for g in gpus.values():
        for f in dataclasses.fields(g):
            v = getattr(g, f.name)
            if f.name.endswith(("_tflops", "_GB", "_GBps", "_MB", "_W", "_mhz", "_count")) and v is not None:
                assert g.sources[f.name], (g.name, f.name)


@pytest.mark.parametrize(
    ("name", "bf16", "bw"),
    [("H100-SXM", 989.5, 3350), ("A100-SXM-80GB", 312, 2039), ("A100-SXM-40GB", 312, 1555), ("H200", 989.5, 4800),
     ("B200", 2250, 8000), ("GB200", 2500, 8000), ("MI300X", 1307.4, 5300), ("H100-PCIe", 756, 2000),
     ("MI250-GCD", 181.05, 1638.4), ("MI250X-GCD", 191.5, 1638.4)],
)
def test_datasheet_numbers(name: str, bf16: float, bw: float) -> None:
    g = get_gpu(name)
    assert g.peak_tflops("bf16") == pytest.approx(bf16, rel=1e-3)
    assert g.peak_tflops("bfloat16") == g.peak_tflops("bf16")
    assert g.hbm_bw_GBps == bw


def test_precisions_and_missing_ones() -> None:
    h = get_gpu("H100-SXM")
    assert h.peak_tflops("float8_e4m3fn") == pytest.approx(2 * h.peak_tflops("bf16"))
    assert h.peak_tflops("tf32") == pytest.approx(h.peak_tflops("bf16") / 2, rel=1e-3)
    with pytest.raises(ValueError, match="no bf16"):
        get_gpu("V100-SXM").peak_tflops("bf16")
    with pytest.raises(ValueError, match="no fp4"):
        h.peak_tflops("fp4")
    with pytest.raises(ValueError, match="unknown precision"):
        h.peak_tflops("int3")


def test_published_csv_and_trace_device_strings_resolve(published_csv: Path) -> None:
    with open(published_csv) as fh:
        rows = list(csv.DictReader(fh))
    want = {"H100-SXM5-80GB (DGX-H100)": "H100-SXM", "GB200 (DGX-GB200 NVL72)": "GB200", "A100-SXM4-40GB": "A100-SXM-40GB",
            "H100-SXM-96GB-HBM2e(500W)": "H100-SXM-96GB-HBM2e", "B200 (DGX-B200)": "B200"}
    for r in rows:
        g = get_gpu(r["gpu_type"])
        if r["gpu_type"] in want:
            assert g.name == want[r["gpu_type"]]
    for s, n in [("NVIDIA H100 80GB HBM3", "H100-SXM"), ("AMD Instinct MI300X VF", "MI300X"),
                 ("Tesla V100-SXM2-32GB", "V100-SXM"), ("AMD Instinct MI250X", "MI250X"),
                 ("NVIDIA A100-SXM4-80GB", "A100-SXM-80GB"), ("NVIDIA GeForce RTX 4090", "RTX-4090")]:
        assert get_gpu(s).name == n


def test_unknown_name_lists_closest() -> None:
    with pytest.raises(KeyError, match="H100-SXM"):
        get_gpu("H100-SXMM")


def test_scaled_changes_only_what_is_asked() -> None:
    h = get_gpu("H100-SXM")
    s = h.scaled(hbm_bw=2.0, bf16=1.5)
    assert s.hbm_bw_GBps == 6700 and s.peak_tflops("bf16") == pytest.approx(1484.25)
    assert s.peak_tflops("fp8") == h.peak_tflops("fp8") and s.l2_MB == h.l2_MB
    assert "hypothetical" in s.sources["hbm_bw_GBps"] and s.name != h.name
    f = h.scaled(flops=2)
    assert f.peak_tflops("fp8") == 2 * h.peak_tflops("fp8") and f.hbm_bw_GBps == h.hbm_bw_GBps
    with pytest.raises(ValueError, match="unknown key"):
        h.scaled(hbm=2)
    with pytest.raises(ValueError, match="> 0"):
        h.scaled(hbm_bw=0)


def test_user_toml_file_and_errors(tmp_path: Path) -> None:
    text = (GPU_DIR / "h100_sxm.toml").read_text().replace('name = "H100-SXM"', 'name = "MyGPU"')
    p = tmp_path / "my.toml"
    p.write_text(text.replace("hbm_bw_GBps = 3350", "hbm_bw_GBps = 9000"))
    g = get_gpu(str(p))
    assert isinstance(g, GPUSpec) and g.name == "MyGPU" and g.hbm_bw_GBps == 9000
    p.write_text(text.replace("hbm_bw_GBps = 3350", "hbm_bw_GBps = -1"))
    with pytest.raises(ValueError, match=r"my\.toml.*hbm_bw_GBps = -1"):
        load_gpu(p)
    p.write_text(text.replace("hbm_bw_GBps = 3350", "hbm_bw_GBs = 3350"))
    with pytest.raises(ValueError, match="hbm_bw_GBs"):
        load_gpu(p)
    with pytest.raises(FileNotFoundError):
        load_gpu(tmp_path / "nope.toml")


def test_measured_anchors_are_below_peak() -> None:
    for name in ("H100-SXM", "H200"):
        g = get_gpu(name)
        a = measured_anchors(name)
        assert 0.7 < a["matmul_tflops"].value / g.peak_tflops("bf16") < 0.85
        assert 0.85 < a["copy_GBps"].value / g.hbm_bw_GBps < 0.95


def test_rtx_2080_ti_turing_whitepaper_numbers() -> None:
    """Turing whitepaper Table 1, reference board: FP32 13.4, FP16 tensor with FP32 accumulate 53.8 (half the
    FP16-accumulate 107.6 on GeForce), 616 GB/s, 68 SMs; no BF16 or TF32 on Turing."""
    g = get_gpu("NVIDIA GeForce RTX 2080 Ti")
    assert g.name == "RTX-2080-Ti" and g.family == "turing" and g.sm_count == 68
    assert g.peak_tflops("fp16") == 53.8 and g.fp32_dense_tflops == 13.4 and g.hbm_bw_GBps == 616
    # peaks agree with the clock: 4352 CUDA cores x 2 x 1545 MHz; 544 tensor cores x 64 FMA x 2 x 1545 / 2
    assert 4352 * 2 * g.boost_clock_mhz * 1e-6 == pytest.approx(g.fp32_dense_tflops, rel=0.01)
    assert 544 * 64 * 2 * g.boost_clock_mhz * 1e-6 / 2 == pytest.approx(g.peak_tflops("fp16"), rel=0.01)
    assert not g.has_precision("bf16") and not g.has_precision("tf32")


def test_mi250_gcds_are_half_a_package() -> None:
    x, gx = get_gpu("MI250X"), get_gpu("MI250X-GCD")
    for f in ("sm_count", "hbm_capacity_GB", "hbm_bw_GBps", "fp16_dense_tflops", "bf16_dense_tflops", "fp64_dense_tflops"):
        assert getattr(gx, f) == pytest.approx(getattr(x, f) / 2), f
    g = get_gpu("MI250-GCD")
    # CDNA2: 1024 fp16 matrix FLOPs per CU per clock at the 1700 MHz peak engine clock
    assert g.sm_count * 1024 * g.boost_clock_mhz * 1e-6 == pytest.approx(g.peak_tflops("bf16"), rel=1e-3)


def _props(**kw: object) -> dict[str, object]:
    """deviceProperties of the MI250 trace (shared/data/traces/amd_trace, ROCm 6.2), overridable."""
    p: dict[str, object] = {"id": 0, "name": "AMD Radeon Graphics", "totalGlobalMem": 68702699520, "computeMajor": 9,
                            "computeMinor": 0, "warpSize": 64, "numSms": 104}
    return {**p, **kw}


def test_shared_rocm_device_name_resolves_by_device_properties_only() -> None:
    assert get_gpu(_props()).name == "MI250-GCD"
    assert get_gpu(_props(numSms=110)).name == "MI250X-GCD"
    # the name both MI250 and MI250X GCDs report in newer ROCm: the CU count decides, not the package alias
    assert get_gpu(_props(name="AMD Instinct MI250X / MI250")).name == "MI250-GCD"
    # one GCD's device name is not the two-GCD package (MI250X): by itself it names no part
    for shared in ("AMD Instinct MI250X / MI250", "AMD Radeon Graphics"):  # nor is every Radeon an MI250
        with pytest.raises(KeyError, match="several parts share"):
            get_gpu(shared)
    with pytest.raises(KeyError, match="matches no catalog part"):
        get_gpu(_props(numSms=60))  # a Radeon APU or another gfx9 part
    with pytest.raises(KeyError, match="matches no catalog part"):
        get_gpu(_props(totalGlobalMem=16 * 2**30))
    with pytest.raises(KeyError, match="matches no catalog part"):
        get_gpu(_props(computeMinor=4))  # gfx94x (MI300) with the same CU count would not be an MI250
    with pytest.raises(KeyError, match="matches no catalog part"):
        get_gpu({"name": "AMD Radeon Graphics"})
    # names that identify one part resolve as before, with or without the properties
    assert get_gpu({"name": "NVIDIA GeForce RTX 2080 Ti", "numSms": 68}).name == "RTX-2080-Ti"
    assert get_gpu({"name": "AMD Instinct MI300X VF", "numSms": 304}).name == "MI300X"


def test_trace_device_properties_resolve(real_traces: Path) -> None:
    from trainperf.trace import load_trace

    traces = real_traces
    for path, want in [("amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz", "MI250-GCD"),
                       ("param_2080ti/resnet_kineto.json.gz", "RTX-2080-Ti")]:
        ts = load_trace(traces / path)
        assert get_gpu(ts.ranks[0].device_props).name == want


def test_device_match_validation(tmp_path: Path) -> None:
    text = (GPU_DIR / "mi250_gcd.toml").read_text().replace('name = "MI250-GCD"', 'name = "MyGCD"')
    p = tmp_path / "g.toml"
    p.write_text(text.replace("numSms = 104\n", ""))
    with pytest.raises(ValueError, match="needs numSms"):
        load_gpu(p)
    p.write_text(text.replace("numSms = 104", "numSms = 104\nclock = 3"))
    with pytest.raises(ValueError, match="unknown \\[device_match\\] keys"):
        load_gpu(p)


@pytest.mark.parametrize(("written", "part"), [
    ("H200-141GB", "H200"), ("V100-SXM3-32GB (DGX-2H)", "V100-SXM"), ("A100 80GB PCIe", "A100-PCIe-80GB"),
    ("A100 40GB SXM", "A100-SXM-40GB"), ("MI300X OAM", "MI300X"), ("H100 80GB PCIe", "H100-PCIe"),
    ("B200-180GB", "B200"),
])
def test_names_as_vendors_and_papers_write_them(written: str, part: str) -> None:
    assert get_gpu(written).name == part


@pytest.mark.parametrize("written", ["H100 NVL", "H800", "V100 16GB"])
def test_parts_not_in_the_catalog_get_the_closest_names(written: str) -> None:
    with pytest.raises(KeyError, match="closest"):
        get_gpu(written)
