"""Analyses on synthetic traces whose answers are known by construction (tests/data/traces/make_fixtures.py)."""

from pathlib import Path

import polars as pl
import pytest

from trainperf.costs.profiler import KINETO_DTYPES
from trainperf.trace import analyze, compare_traces, load_trace
from trainperf.trace.analyses.collectives import collectives
from trainperf.trace.analyses.kernels import kernel_breakdown, top_kernels
from trainperf.trace.analyses.launch import launch_stats
from trainperf.trace.analyses.overlap import comm_overlap
from trainperf.trace.analyses.sol import op_call, op_sol
from trainperf.trace.analyses.temporal import temporal_breakdown
from trainperf.trace.classify import kernel_category
from trainperf.vocab import OpCategory


@pytest.fixture(scope="module")
def ev(fixtures: Path) -> pl.DataFrame:
    return load_trace(fixtures / "overlap40.json").events


def test_temporal_breakdown_by_construction(ev: pl.DataFrame) -> None:
    t = temporal_breakdown(ev)
    assert t["step"].to_list() == [-1, 1]
    r = t.row(1, named=True)
    assert (r["window"], r["compute"], r["communication"], r["copy"], r["idle"]) == (180_000, 70_000, 60_000, 10_000, 40_000)
    assert (r["idle_host"], r["idle_sync"], r["idle_other"]) == (10_000, 0, 30_000)
    assert r["compute_frac"] == pytest.approx(70 / 180)


def test_sync_idle(fixtures: Path) -> None:
    r = temporal_breakdown(load_trace(fixtures / "sync.json.gz").events).row(0, named=True)
    assert (r["idle_host"], r["idle_sync"], r["idle_other"]) == (0, 10_000, 30_000)


def test_two_kernels_overlap_the_collective_by_exactly_40_percent(ev: pl.DataFrame) -> None:
    o = comm_overlap(ev).row(0, named=True)
    assert (o["comm_ns"], o["compute_ns"], o["overlapped_ns"], o["exposed_ns"]) == (100_000, 70_000, 40_000, 60_000)
    assert o["overlap"] == pytest.approx(0.4)


def test_kernel_breakdown_and_top(ev: pl.DataFrame) -> None:
    k = kernel_breakdown(ev)
    got = dict(zip(k["category"], k["time_ns"], strict=True))
    assert got == {"communication": 100_000, "matmul": 60_000, "copy": 10_000, "elementwise": 10_000}
    assert k["share"].sum() == pytest.approx(1.0)
    top = top_kernels(ev, 1).row(0, named=True)
    assert top["category"] == "communication" and top["time_ns"] == 100_000


def test_launch_stats(ev: pl.DataFrame) -> None:
    s = launch_stats(ev).row(0, named=True)
    assert s["kernels"] == 5 and s["launch_calls"] == 5 and s["kernels_per_step"] == 5
    # delays: 80-12, 170-33, 100-45, 220-50, 250-240 us -> median 68 us
    assert s["delay_p50_ns"] == 68_000
    assert s["short_kernels"] == 0  # the shortest (memcpy, elementwise) take 10 us: not below the limit
    assert s["cpu_launch_ns"] == 20_000
    assert launch_stats(ev, short_ns=10_001).row(0, named=True)["short_kernels"] == 2


def test_collective_bandwidth(ev: pl.DataFrame) -> None:
    c = collectives(ev).row(0, named=True)
    # 1e6 float32 = 4 MB in 100 us: algbw 40 GB/s; all-reduce busbw = algbw * 2(n-1)/n = 40 GB/s for n=2
    assert (c["kind"], c["count"], c["bytes"]) == ("allreduce", 1, 4_000_000)
    assert c["algbw_GBps"] == pytest.approx(40.0) and c["busbw_GBps"] == pytest.approx(40.0)


def test_op_call_from_kineto_shapes() -> None:
    call = op_call("aten::addmm", '[[[256],[32,128],[128,256],[],[]],["c10::BFloat16","c10::BFloat16","c10::BFloat16","Scalar","Scalar"],["","","","1","1"]]')
    assert [getattr(a, "shape", a) for a in call.args] == [(256,), (32, 128), (128, 256), 1, 1]
    assert call.args[1].dtype == "bfloat16"
    assert KINETO_DTYPES["float"] == "float32" and KINETO_DTYPES["long int"] == "int64"


def test_sol_prices_only_leaf_ops_against_the_gpu(ev: pl.DataFrame) -> None:
    from trainperf.hardware import get_gpu

    gpu = get_gpu("H100-SXM")
    s = op_sol(ev, gpu)
    assert "aten::linear" not in s["op"].to_list()  # only the op that launched kernels is priced
    mm = s.filter(pl.col("op") == "aten::mm").row(0, named=True)
    assert (mm["calls"], mm["kernels"], mm["time_ns"]) == (2, 2, 60_000)
    assert mm["flops"] == 2 * 64 * 128 * 256 and mm["math_dtype"] == "bfloat16"
    t_c = mm["flops"] / (gpu.peak_tflops("bf16") * 1e3)
    t_m = mm["bytes"] / gpu.hbm_bw_GBps
    assert mm["sol_ns"] == pytest.approx(2 * max(t_c, t_m))
    assert mm["bound_by"] == "latency"  # 34 ns of roofline work per kernel: fixed cost dominates
    assert mm["achieved_tflops"] == pytest.approx(2 * mm["flops"] / 60_000 / 1e3)


def test_opportunities_ranked_with_recoverable_time(fixtures: Path) -> None:
    a = analyze(fixtures / "overlap40.json")
    o = a.opportunities
    # equal times in a fixed order (by kind), whatever order the analyses produced them in
    assert o["kind"].to_list() == ["exposed_communication", "exposed_copy", "launch_bound"]
    assert o["recover_ns"].to_list() == [60_000, 10_000, 10_000]
    assert o["part"].to_list() == ["wait", "copy", "host"] and o["overlaps"].null_count() == 3
    assert o["recover_frac"][0] == pytest.approx(60 / 180)
    assert all(o["action"].str.len_chars() > 20)


def test_compare_two_ranks(fixtures: Path) -> None:
    c = compare_traces(fixtures / "overlap40.json", fixtures / "sync.json.gz")
    parts = {r["part"]: r for r in c.temporal.iter_rows(named=True)}
    assert parts["idle_host"]["delta_ns"] == -10_000 and parts["idle_sync"]["delta_ns"] == 10_000
    assert parts["window"]["delta_ns"] == 0
    assert (c.categories["delta_ns"] == 0).all()


def test_cpu_only_trace_gives_the_host_side(traces: Path) -> None:
    a = analyze(traces / "cpu_only")
    assert a.temporal.height == 0 and a.opportunities.height == 0
    assert a.trace.ranks[0].rank == 34 and a.trace.ranks[0].world_size == 300
    assert any("host-side analyses only" in n for n in a.notes)
    # four aten::empty calls of 2.503 + 0.473 + ... us, none nested: self time is their whole duration
    ops = a.host_ops.row(0, named=True)
    assert (ops["name"], ops["calls"], ops["self_ns"], ops["total_ns"], ops["share"]) == ("aten::empty", 4, 3964, 3964, 1.0)
    h = a.host.row(0, named=True)
    assert h["steps"] == 0 and h["in_ops_ns"] + h["outside_ops_ns"] == h["window_ns"]


@pytest.mark.parametrize("name, cat", [
    ("volta_sgemm_128x64_nt", OpCategory.MATMUL),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", OpCategory.MATMUL),
    ("ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_tn", OpCategory.MATMUL),
    ("nvjet_tst_192x192_64x3_2x1_v_bz_coopA_NNT", OpCategory.MATMUL),
    ("cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_32x6_tn_align8>", OpCategory.MATMUL),
    ("Cijk_Ailk_Bljk_BBS_BH_MT128x128x32_MI32x32x8x1", OpCategory.MATMUL),
    ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128>>", OpCategory.ATTENTION),
    ("fmha_cutlassF_bf16_aligned_64x64_rf_sm80", OpCategory.ATTENTION),
    ("ck_tile::FmhaFwdKernel<ck_tile::BlockFmhaPipelineQRKSVSAsync>", OpCategory.ATTENTION),
    ("sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw", OpCategory.CONV),
    ("void cudnn::detail::dgrad_engine<float, 512, 6, 5, 3, 3, 3, false>", OpCategory.CONV),
    ("void cudnn::bn_bw_1C11_kernel_new<float, float, float2, 128, true, 1>", OpCategory.NORM),
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16>", OpCategory.NORM),
    ("void at::native::multi_tensor_apply_kernel<at::native::FusedAdamMathFunctor<float>>", OpCategory.OPTIMIZER),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float>>", OpCategory.REDUCTION),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", OpCategory.ELEMENTWISE),
    ("void at::native::elementwise_kernel<128, 2, {lambda(float)#1}>", OpCategory.ELEMENTWISE),
    ("triton_poi_fused_add_mul_0", OpCategory.ELEMENTWISE),
    ("triton_red_fused_sum_1", OpCategory.REDUCTION),
    ("ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)", OpCategory.COMMUNICATION),
    ("ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)", OpCategory.COMMUNICATION),
    ("void at::native::(anonymous namespace)::indexSelectLargeIndex<float, long>", OpCategory.EMBEDDING),
])
def test_kernel_categories(name: str, cat: OpCategory) -> None:
    assert kernel_category(name) == cat


def test_memcpy_and_memset_are_copy() -> None:
    assert kernel_category("Memcpy DtoD (Device -> Device)", "gpu_memcpy") == OpCategory.COPY
    assert kernel_category("Memset (Device)", "gpu_memset") == OpCategory.COPY
