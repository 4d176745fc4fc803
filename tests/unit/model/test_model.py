"""Model behaviour that cannot be faked: anchors, monotonicity, roofline limits, execution modes, memory."""

from __future__ import annotations

import numpy as np
import pytest
from model_graphs import attn, eltwise, frame, gemm, graph

from trainperf.hardware import get_gpu, list_gpus
from trainperf.model import ExecConfig, op_times, predict_step
from trainperf.opgraph import OpGraph
from trainperf.vocab import BoundBy

BURST = ExecConfig(sustained=False)
"""Kernel rates as microbenchmarks and short traces measure them (no sustained-clock derate)."""


def test_reproduces_the_measured_h100_and_h200_anchors() -> None:
    big = frame([gemm(8192, 8192, 8192)])
    for name, lo, hi in (("H100-SXM", 770, 810), ("H200", 750, 800)):
        t = float(op_times(big, name, BURST)["kernel_s"][0])
        assert lo < 2 * 8192**3 / t / 1e12 < hi, name
    copy = frame([eltwise(2**29, category="copy")])
    copy = copy.with_columns(bytes_read=copy["bytes_written"])  # a copy reads and writes the same bytes
    # 2 GiB moved: the copy rate is the anchor, / the fitted copy slowdown
    t = float(op_times(copy, "H100-SXM", BURST)["kernel_s"][0])
    rate = float(copy["bytes_read"][0] + copy["bytes_written"][0]) / t / 1e9
    assert 1500 < rate <= 3000


def test_larger_gpu_is_never_slower_on_a_compute_bound_step(compute_graph: OpGraph) -> None:
    t = {g.name: predict_step(compute_graph, g).step_time_s for g in list_gpus() if g.has_precision("bf16")}
    assert t["A100-SXM-80GB"] > t["H100-SXM"] > t["B200"]
    assert t["H100-PCIe"] > t["H100-SXM"] and t["B200"] >= t["GB200"]
    for g in list_gpus():
        if g.has_precision("bf16"):
            assert predict_step(compute_graph, g.scaled(flops=2.0)).step_time_s < t[g.name]
            assert predict_step(compute_graph, g.scaled(flops=2.0, hbm_bw=2.0)).step_time_s <= t[g.name]


def test_doubling_hbm_bandwidth_speeds_up_memory_bound_not_a_large_matmul(memory_graph: OpGraph) -> None:
    h = get_gpu("H100-SXM")
    h2 = h.scaled(hbm_bw=2.0)
    m1, m2 = predict_step(memory_graph, h).step_time_s, predict_step(memory_graph, h2).step_time_s
    assert 1.8 < m1 / m2 <= 2.0
    big = graph([gemm(8192, 8192, 8192)])
    b1, b2 = predict_step(big, h).step_time_s, predict_step(big, h2).step_time_s
    assert b1 / b2 == pytest.approx(1.0, abs=0.01)


def test_mfu_in_unit_interval_and_bound_by(compute_graph: OpGraph, memory_graph: OpGraph) -> None:
    for g in list_gpus():
        if not g.has_precision("bf16"):
            continue
        for gr in (compute_graph, memory_graph):
            e = predict_step(gr, g)
            assert 0 < e.mfu <= 1, (g.name, e.mfu)
    e = predict_step(compute_graph, "H100-SXM")
    cats = dict(zip(e.categories["category"], e.categories["bound_by"], strict=True))
    assert cats["matmul"] == BoundBy.COMPUTE and cats["elementwise"] == BoundBy.MEMORY
    assert e.categories["share"].sum() == pytest.approx(1.0)
    assert (e.categories["sol_pct"] <= 100).all()
    assert 0.3 < e.mfu < 0.8


def test_small_eager_step_is_host_bound_and_cuda_graphs_fix_it() -> None:
    tiny = graph([r for _ in range(50) for r in (gemm(64, 64, 64), eltwise(4096))], tokens=64)
    eager = predict_step(tiny, "H100-SXM")
    assert eager.host_bound and eager.step_time_s > 2 * eager.gpu_busy_s
    graphs = predict_step(tiny, "H100-SXM", ExecConfig(cuda_graphs=True))
    assert not graphs.host_bound and graphs.step_time_s < eager.step_time_s / 2
    assert set(eager.ops["bound_by"]) == {BoundBy.LATENCY}


def test_compile_fuses_elementwise_chains() -> None:
    rows = [gemm(4096, 4096, 4096)] + [eltwise(2**24) for _ in range(4)] + [gemm(4096, 4096, 4096)]
    g = graph(rows)
    eager = predict_step(g, "H100-SXM")
    comp = predict_step(g, "H100-SXM", ExecConfig(compile=True))
    ek = eager.categories.filter(eager.categories["category"] == "elementwise")
    ck = comp.categories.filter(comp.categories["category"] == "elementwise")
    assert ek["kernels"][0] == 4 and ck["kernels"][0] == pytest.approx(1.0)
    assert ck["time_s"][0] < 0.6 * ek["time_s"][0]
    def mm(e: object) -> float:
        ops = e.ops  # type: ignore[attr-defined]
        return float(ops.filter(ops["category"] == "matmul")["kernel_s"].sum())

    assert mm(comp) == pytest.approx(mm(eager), rel=1e-9)  # GEMMs are not fused


def test_precisions(compute_graph: OpGraph) -> None:
    bf16 = predict_step(compute_graph, "H100-SXM")
    fp8 = predict_step(compute_graph, "H100-SXM", ExecConfig(precision="fp8"))
    assert fp8.step_time_s < bf16.step_time_s and "fp8" in fp8.peak_name
    fp32 = graph([gemm(4096, 4096, 4096, dtype="float32")])
    t32 = predict_step(fp32, "H100-SXM", ExecConfig(precision="fp32")).step_time_s
    tf32 = predict_step(fp32, "H100-SXM", ExecConfig(precision="tf32")).step_time_s
    assert tf32 < t32 / 3
    with pytest.raises(ValueError, match="no bf16"):
        predict_step(compute_graph, "V100-SXM")
    with pytest.raises(ValueError, match="precision"):
        ExecConfig(precision="int4")


def test_causal_attention_is_faster_and_power_cap_slows_compute() -> None:
    c = op_times(frame([attn(1, 32, 8192, 128, causal=True)]), "H100-SXM")["kernel_s"][0]
    n = op_times(frame([attn(1, 32, 8192, 128, causal=False)]), "H100-SXM")["kernel_s"][0]
    assert 0.5 < c / n < 0.6
    big = frame([gemm(8192, 8192, 8192)])
    assert op_times(big, "H100-SXM-96GB-HBM2e")["kernel_s"][0] > op_times(big, "H100-SXM")["kernel_s"][0]


def test_attention_backend_rates_follow_the_flashattention3_paper() -> None:
    """FlashAttention-3 paper (arXiv 2407.08608) Fig. 5-6, H100 hd 128 at 16k: forward causal FA2 335 and
    cuDNN 539 TFLOP/s (causal FLOPs halved), backward FA2 322 and cuDNN 516 (at 2.5x forward FLOPs)."""
    fwd = frame([attn(1, 16, 16384, 128, causal=True)])
    bwd = frame([attn(1, 16, 16384, 128, causal=False, backward=True)])
    half_flops = fwd["flops"][0] / 2
    rate = {b: half_flops / op_times(fwd, "H100-SXM", ExecConfig(attention=b, sustained=False))["kernel_s"][0] / 1e12 for b in ("flash2", "cudnn")}
    assert rate["flash2"] == pytest.approx(335, rel=0.06) and rate["cudnn"] == pytest.approx(539, rel=0.06)
    fa_bwd = 1.25 * bwd["flops"][0]  # the papers' 2.5x convention
    rate_b = {b: fa_bwd / op_times(bwd, "H100-SXM", ExecConfig(attention=b, sustained=False))["kernel_s"][0] / 1e12 for b in ("flash2", "cudnn")}
    assert rate_b["flash2"] == pytest.approx(322, rel=0.06) and rate_b["cudnn"] == pytest.approx(516, rel=0.06)
    # no published cuDNN rate for A100: the cudnn backend runs at the flash2 rates there
    a100 = [op_times(fwd, "A100-SXM-80GB", ExecConfig(attention=b))["kernel_s"][0] for b in ("flash2", "cudnn")]
    assert a100[0] == a100[1]
    with pytest.raises(ValueError, match="attention"):
        ExecConfig(attention="xformers")


def test_fp4_gemms_pay_their_operand_quantization() -> None:
    """NVFP4 operands are quantized from bf16 (amax pass + block quantize: fp4_cast_bytes per element)."""
    g = gemm(8192, 8192, 8192, dtype="float4_e2m1fn_x2")
    t = op_times(frame([g]), "B200", ExecConfig(precision="fp8"))
    gpu = get_gpu("B200")
    cast_s = 4.5 * 8192 * (8192 + 8192) / (gpu.hbm_bw_GBps * 1e9 * 0.88)
    assert t["kernel_s"][0] - t["compute_s"][0] == pytest.approx(cast_s + 5e-6, rel=0.05)


def test_uncovered_ops_are_reported_not_zero() -> None:
    g = graph([gemm(1024, 1024, 1024), {"op": "aten::mystery", "category": "other", "covered": False}])
    e = predict_step(g, "H100-SXM")
    assert e.uncovered_ops == 1 and e.uncovered_share_ops == 0.5 and e.uncovered_share_time > 0
    assert e.ops.filter(~e.ops["covered"])["time_s"][0] > 0
    g2 = predict_step(g, "H100-SXM", ExecConfig(compile=True, cuda_graphs=True))
    assert g2.ops.filter(~g2.ops["covered"])["kernel_s"][0] > 0


def test_memory_footprint_and_fit(compute_graph: OpGraph) -> None:
    e = predict_step(compute_graph, "H100-SXM")
    m = e.memory
    assert m.total == pytest.approx(2e9 + 2e9 + 4e9 + 1e9 + m.transient + m.workspace)
    # the planner's figure: 80 binary GB less 2% for the CUDA context (one usable memory everywhere)
    from trainperf.parallel.memory import usable_bytes

    assert e.fits and m.capacity == usable_bytes(80) == pytest.approx(0.98 * 80 * 2**30)
    assert not predict_step(compute_graph, get_gpu("L4").scaled(hbm_capacity=0.25)).fits


def test_pricing_is_per_row_so_large_tables_cost_the_sum(compute_graph: OpGraph) -> None:
    # op_times is a pure function of each row (vectorized): 1000 copies of a table price as 1000 x its rows;
    # how fast that is is benchmarks/bench_model.py's to say, not a wall-clock assert here
    rows = compute_graph.ops
    big = OpGraph(ops=frame([r for _ in range(1000) for r in rows.drop("idx").to_dicts()]), meta=compute_graph.meta)
    for g in ("H100-SXM", "B200", "MI300X"):
        one = op_times(rows, get_gpu(g), ExecConfig())["gpu_time_s"].to_numpy()
        many = op_times(big.ops, get_gpu(g), ExecConfig())["gpu_time_s"].to_numpy()
        assert many.shape == (1000 * rows.height,)
        assert many.reshape(1000, rows.height) == pytest.approx(np.tile(one, (1000, 1)), rel=1e-12)


def test_optimizer_as_it_runs_fused_beats_foreach_beats_per_parameter() -> None:
    n_params, numel = 200, 2**20  # 200 tensors of 1M fp32 elements: AdamW reads 4 and writes 3 per element
    per_elem = 7 * 4.0
    fused = graph([{"op": "aten::_fused_adamw_", "category": "optimizer", "phase": "optimizer", "kernels": 4,
                    "bytes_read": 4 * 4.0 * numel * n_params, "bytes_written": 3 * 4.0 * numel * n_params}])
    # foreach: ~10 multi-tensor ops, each streaming the lists again
    foreach = graph([{"op": "aten::_foreach_mul_", "category": "optimizer", "phase": "optimizer", "kernels": 7,
                      "bytes_read": 2 * 4.0 * numel * n_params, "bytes_written": 4.0 * numel * n_params}
                     for _ in range(10)])
    # per-parameter loop: ~10 elementwise ops per tensor
    loop = graph([{"op": "aten::mul_", "category": "optimizer", "phase": "optimizer", "kernels": 1,
                   "bytes_read": 2 * 4.0 * numel, "bytes_written": 4.0 * numel} for _ in range(10 * n_params)])
    t = {k: predict_step(g, "H100-SXM").step_time_s for k, g in (("fused", fused), ("foreach", foreach), ("loop", loop))}
    assert t["fused"] < t["foreach"] < t["loop"]
    assert t["fused"] == pytest.approx(per_elem * numel * n_params / 3.0e12, rel=0.15)  # the copy anchor


def test_inconsistent_model_flops_are_flagged(compute_graph: OpGraph) -> None:
    import dataclasses

    assert predict_step(compute_graph, "H100-SXM").warnings == ()
    captured = float(compute_graph.ops.filter(compute_graph.ops["phase"] != "optimizer")["flops"].sum())
    bad = OpGraph(ops=compute_graph.ops, meta=dataclasses.replace(compute_graph.meta, model_flops=11 * captured))
    e = predict_step(bad, "H100-SXM")
    assert len(e.warnings) == 1 and "11.00x" in e.warnings[0]


def test_degenerate_gemms_run_on_cuda_cores_not_tensor_cores() -> None:
    # depthwise 3x3 conv as GEMM: per group (channel) m = N*H*W, n = 1, k = 9
    dw = {**gemm(256 * 112 * 112, 1, 9), "category": "conv", "gemm_batch": 144}
    dw["flops"] = 2.0 * 144 * 256 * 112 * 112 * 9
    dw["bytes_read"] = dw["bytes_written"] = 2.0 * 144 * 256 * 112 * 112  # bf16 activations in and out
    t = op_times(frame([dw]), "H100-SXM", BURST)
    assert t["bound_by"][0] == BoundBy.MEMORY
    h = get_gpu("H100-SXM")
    assert float(t["compute_s"][0]) == pytest.approx(dw["flops"] / (h.fp32_dense_tflops * 1e12 * 0.5), rel=1e-6)


def test_sustained_training_runs_compute_at_the_sustained_fraction_and_memory_at_full_rate() -> None:
    big, copy = frame([gemm(8192, 8192, 8192)]), frame([eltwise(2**30)])
    for name in ("A100-SXM-80GB", "H100-SXM", "B200"):
        burst, sus = (float(op_times(big, name, ExecConfig(sustained=s))["compute_s"][0]) for s in (False, True))
        assert sus / burst == pytest.approx(1 / 0.80, rel=1e-6), name
        mem = [float(op_times(copy, name, ExecConfig(sustained=s))["kernel_s"][0]) for s in (False, True)]
        assert mem[0] == pytest.approx(mem[1]), name  # HBM bandwidth is not a core clock


def test_empty_graph() -> None:
    from trainperf.opgraph import empty_opgraph_frame

    out = op_times(empty_opgraph_frame(), "H100-SXM")
    assert out.height == 0 and {"time_s", "sol_time_s", "bound_by"} <= set(out.columns)


def test_family_fits_are_not_shared_between_calibrations() -> None:
    """Each Calibration applies its own [fit.<family>] (an id()-keyed cache once served a freed object's)."""
    from trainperf.model.calibration import Calibration, load_calibration

    base = load_calibration()
    got = []
    for k_half in (50.0, 500.0):  # temporaries, freed after each round
        c = Calibration(data={**base.data, "fit": {"hopper": {"matmul.k_half": k_half}}}, path="t")
        got.append(c.for_family("hopper").matmul.k_half)
        del c
    assert got == [50.0, 500.0]


def test_softmax_exponentials_bind_blackwell_attention_at_small_head_dims() -> None:
    """One MUFU exp per score element at 16 per clock per SM (FlashAttention-4): on B200 the forward at head
    dim 64 is exp-bound, at head dim 128 MMA / exp balanced (so unchanged); on H100 neither binds."""
    from trainperf.model.calibration import Calibration, load_calibration

    base = load_calibration()
    no_exp = Calibration(data={**base.data, "attention": {**base.data["attention"], "exp_per_clk_sm": 0.0}}, path="t")
    ops = frame([attn(4, 64, 4096, 64, causal=False), attn(4, 32, 4096, 128, causal=False)])
    for name, bound in (("B200", (True, False)), ("H100-SXM", (False, False))):
        gpu = get_gpu(name)
        with_exp = op_times(ops, gpu, ExecConfig(), calib=base)["compute_s"].to_list()
        without = op_times(ops, gpu, ExecConfig(), calib=no_exp)["compute_s"].to_list()
        for w, wo, b in zip(with_exp, without, bound, strict=True):
            assert (w > wo * 1.2) if b else w == pytest.approx(wo, rel=1e-12), (name, w, wo)
    # exp-bound time: scores / (SMs x clock x 16 x sustained derate x the kernel's efficiency)
    gpu = get_gpu("B200")
    t = op_times(ops.head(1), gpu, ExecConfig(), calib=base)["compute_s"][0]
    rates = base.rates(gpu.family, gpu.vendor)
    derate, frac = rates.sustained_frac, rates.attention_fracs["flash2"][0]
    scores = 4 * 64 * 4096 * 4096
    assert t == pytest.approx(scores / (gpu.sm_count * gpu.boost_clock_mhz * 1e6 * 16 * derate * frac), rel=0.05)
