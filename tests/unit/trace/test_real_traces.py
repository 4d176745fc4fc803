"""Pinned numbers on real PyTorch profiler traces (shared/data/traces, see its README)."""

from pathlib import Path

import polars as pl
import pytest

from trainperf.trace import analyze, load_trace


def _whole(a: object) -> dict:
    t = a.temporal  # type: ignore[attr-defined]
    return t.filter(pl.col("step") == -1).row(0, named=True)


def test_v100_ns_resolution_trace(traces: Path) -> None:
    a = analyze(traces / "ns_resolution_trace")
    ev = a.trace.events
    assert (a.trace.ranks[0].n_events, a.to_dict()["events"], ev.filter("gpu").height) == (68_692, 68_692, 6_095)
    # the analysis table leaves out the flow events (ph s/f) and keeps the file's row numbers as idx
    assert ev.height == 45_458 and ev["idx"].max() == 68_691 and ev["ph"].is_in(["s", "f"]).sum() == 0
    assert load_trace(traces / "ns_resolution_trace").events.height == 68_692
    assert a.trace.ranks[0].device_name == "Tesla V100-SXM2-32GB" and a.gpu.name == "V100-SXM"
    assert sorted(ev["step"].drop_nulls().unique().to_list()) == [101, 102, 103, 104, 105]
    g = ev.filter("gpu")
    assert g["launch_idx"].null_count() == 0 and g["op_idx"].null_count() == 0
    w = _whole(a)
    # the window and idle time from the ts text with exact decimal arithmetic (json parse_float=Decimal);
    # float64 ts would be 0.25 us coarse here
    assert (w["window"], w["compute"], w["copy"], w["idle"]) == (480_029_179, 468_153_602, 4_300_839, 7_574_738)
    k = dict(a.kernels.select("category", "time_ns").iter_rows())
    assert k["conv"] == 182_042_773 and k["matmul"] == 117_296_927 and k["norm"] == 86_044_403
    # fp32 convolutions/GEMMs on a GPU with fp16 tensor cores: the top opportunity
    assert a.opportunities["kind"][0] == "fp32_matmul"


def test_a100_nccl_collectives(traces: Path) -> None:
    a = analyze(traces / "nccl_parser_config", gpu="A100-SXM-40GB")
    assert a.trace.ranks[0].world_size == 2
    w = _whole(a)
    assert (w["compute"], w["communication"], w["idle"]) == (115_655_847, 39_559_468, 503_050_991)
    o = a.overlap.row(0, named=True)
    assert o["comm_ns"] == 46_876_493 and o["overlap"] == pytest.approx(0.15609, abs=1e-5)
    c = {r["kind"]: r for r in a.collectives.iter_rows(named=True)}
    assert c["allreduce"]["count"] == 15 and c["allreduce"]["bytes"] == 306_684_384
    assert c["allreduce"]["busbw_GBps"] == pytest.approx(6.558, abs=1e-3)
    assert c["broadcast"]["count"] == 6
    assert a.opportunities["kind"].to_list()[:2] == ["launch_bound", "exposed_communication"]


def test_amd_mi250(traces: Path) -> None:
    # ROCm names the device "AMD Radeon Graphics": its deviceProperties (104 CUs, 64 GiB) say one MI250 GCD
    a = analyze(traces / "amd_trace")
    assert a.gpu is not None and a.gpu.name == "MI250-GCD"
    ev = a.trace.events
    assert ev.filter("gpu").height == 16 and sorted(ev["step"].drop_nulls().unique().to_list()) == [1, 2]
    assert dict(a.kernels.select("category", "count").iter_rows()) == {
        "elementwise": 9, "copy": 2, "matmul": 2, "reduction": 2, "optimizer": 1}
    assert a.sol_summary["covered_frac"] == 1.0  # recorded with shapes: every op priced


def test_no_tf32_advice_on_a_part_without_tf32(traces: Path) -> None:
    a = analyze(traces / "param_2080ti" / "resnet_kineto.json.gz")
    assert a.gpu is not None and a.gpu.name == "RTX-2080-Ti"
    advice = " ".join(a.opportunities["action"].to_list())
    assert "allow_tf32" not in advice and "autocast" in advice


def test_old_kineto_runtime_ids_do_not_link_kernels_to_unrelated_ops(traces: Path) -> None:
    """The 2080 Ti traces' runtime calls carry their correlation id as External id (older Kineto): linked by
    time, no kernel lands on an op that launches none (aten::result_type got 534 by accident before)."""
    ev = load_trace(traces / "param_2080ti" / "resnet_kineto.json.gz").events
    ops = ev.select(op_idx="idx", op="name")
    linked = ev.filter("gpu").join(ops, on="op_idx", how="inner")
    by_op = dict(linked.group_by("op").agg(pl.len()).iter_rows())
    assert "aten::result_type" not in by_op
    assert by_op["aten::cudnn_convolution"] >= 1900 and by_op["aten::convolution_backward"] >= 1600


def test_dlrm_eight_ranks(traces: Path) -> None:
    a = analyze(traces / "param_dlrm_8rank")
    assert a.trace.rank_ids() == list(range(8)) and a.trace.warnings == ()
    assert a.trace.events.filter("gpu").height == 2_244
    comm = a.overlap.sort("rank")["comm_ns"].to_list()
    assert comm == [5_798_000, 11_336_000, 3_492_000, 9_774_000, 6_587_000, 6_251_000, 3_558_000, 1_746_000]
    assert a.imbalance.filter("straggler")["rank"].to_list() == [1]
    assert set(a.collectives["kind"]) == {"sendrecv", "allreduce"}
    assert a.opportunities["kind"][0] == "exposed_communication"


def test_h100_speed_of_light(traces: Path) -> None:
    a = analyze(traces / "tracelens_h100" / "Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz")
    assert a.gpu.name == "H100-SXM"
    assert a.sol_summary["covered_frac"] > 0.999
    assert a.sol_summary["sol_frac"] == pytest.approx(0.5553, abs=1e-3)
    mm = a.sol.filter(pl.col("op") == "aten::mm").row(0, named=True)
    assert mm["bound_by"] == "compute" and mm["achieved_tflops"] == pytest.approx(610.5, abs=0.5)
    k = dict(a.kernels.select("category", "count").iter_rows())
    assert k["attention"] == 34 and k["matmul"] == 242


@pytest.mark.parametrize("folder, rank", [("rank_unavailable", 0), ("distributed_info_unavailable", 0),
                                          ("rank_non_gpu", 0), ("cpu_only", 34)])
def test_edge_cases_without_gpu_or_rank(traces: Path, folder: str, rank: int) -> None:
    a = analyze(traces / folder)
    assert a.trace.rank_ids() == [rank]
    assert a.temporal.height == 0 and a.opportunities.height == 0
    assert any("no GPU events" in n for n in a.notes)


def test_execution_trace_in_folder_is_skipped_with_a_warning(traces: Path) -> None:
    ts = load_trace(traces / "execution_trace")
    assert ts.rank_ids() == [0]
    assert "benchmark_simple_add_et.json.gz: JSON without 'traceEvents'" in ts.warnings[0]


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["critical_path/alexnet", "critical_path/simple_add", "trace_filter",
                                    "triton_example", "call_stack", "param_2080ti", "tracelens_mi300",
                                    "trace_compare/base"])
def test_every_real_trace_analyzes(traces: Path, folder: str) -> None:
    from trainperf.report.trace_html import render_html

    a = analyze(traces / folder)
    assert a.temporal.height > 0
    assert "<svg" in render_html(a)
