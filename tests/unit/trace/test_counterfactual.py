"""What to fix first, compute part: each item priced by the cost model's counterfactual on the trace's own
shapes (trace/analyses/counterfactual.py), the same rows from both engines, never more than the step."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import diff
from trainperf.hardware import get_gpu
from trainperf.trace import analyze
from trainperf.trace.analyses.advice import ACHIEVABLE_SOL, count_once
from trainperf.trace.analyses.counterfactual import find_spans
from trainperf.trace.analyses.pricing import KERNEL_FLOOR_NS
from trainperf.trace.quick import analyze_small

_spec = importlib.util.spec_from_file_location(
    "make_fixtures", Path(__file__).resolve().parents[2] / "data" / "traces" / "make_fixtures.py")
assert _spec is not None and _spec.loader is not None
mk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mk)

# BERT-base-like attention, cross-shaped so Lq != Lk: batch 8 x 12 heads, 384 queries, 512 keys, head dim 64
B, H, LQ, LK, D = 8, 12, 384, 512, 64
BH = B * H
QK = [[BH, LQ, D], [BH, D, LK]]  # also dP = dO @ V^T in backward
PV = [[BH, LQ, LK], [BH, LK, D]]  # also dQ = dS @ K
DV = [[BH, LK, LQ], [BH, LQ, D]]  # dV = P^T @ dO, and dK = dS^T @ Q
SCORES = [B, H, LQ, LK]
FWD_US = {"qk": 40, "div": 30, "softmax": 50, "pv": 40}  # kernel time of the forward span's ops
BWD_US = {"dp": 40, "dv": 40, "softmax_bwd": 60, "div": 30, "dq": 40, "dk": 40}


def _op(name: str, dims: list[Any], types: list[str], concrete: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "Input Dims": dims, "Input type": types, "Concrete Inputs": concrete or [""] * len(dims)}


def trace(dtype: str = "c10::BFloat16", *, mm_inside: bool = False, pv_batch: int = BH) -> dict[str, Any]:
    """One ProfilerStep: forward on thread 101 (qkv mm, QK^T bmm, scale div, softmax, PV bmm, out mm), backward
    on thread 102 (out mm backward, dP and dV bmm, softmax backward, scale div, dQ and dK bmm, qkv mm
    backward); each op launches one kernel, back to back on one stream."""
    t = [dtype, dtype]
    mm = _op("aten::mm", [[B * LQ, 768], [768, 768]], t)
    fwd = [(mm, 20), (_op("aten::bmm", QK, t), FWD_US["qk"]), (_op("aten::div", [SCORES, []], [dtype, "Scalar"]), 30),
           (_op("aten::_softmax", [SCORES, [], []], [dtype, "Scalar", "Scalar"], ["", "-1", "False"]), 50),
           (_op("aten::bmm", [[pv_batch, LQ, LK], [pv_batch, LK, D]], t), FWD_US["pv"]), (mm, 20)]
    if mm_inside:  # another GEMM between QK^T and the softmax: not attention
        fwd.insert(2, (mm, 20))
    bwd = [(mm, 20), (_op("aten::bmm", QK, t), 40), (_op("aten::bmm", DV, t), 40),
           (_op("aten::_softmax_backward_data", [SCORES, SCORES, [], []], [dtype, dtype, "Scalar", "Scalar"],
                ["", "", "-1", ""]), 60),
           (_op("aten::div", [SCORES, []], [dtype, "Scalar"]), 30), (_op("aten::bmm", PV, t), 40),
           (_op("aten::bmm", DV, t), 40), (mm, 20)]
    ev: list[dict[str, Any]] = [mk._x("user_annotation", "ProfilerStep#1", 0, 5000, **{"External id": 1})]
    gpu_t, ext = 100.0, 10
    for tid, ops, t0 in ((101, fwd, 10.0), (102, bwd, 200.0)):
        for i, (op, us) in enumerate(ops):
            ts = t0 + 10 * i
            ext += 1
            args = {k: v for k, v in op.items() if k != "name"}
            ev += [mk._x("cpu_op", op["name"], ts, 8, tid=tid, **{"External id": ext, **args}),
                   mk._x("cuda_runtime", "cudaLaunchKernel", ts + 1, 4, tid=tid,
                         **{"External id": ext, "correlation": 1000 + ext}),
                   mk._kernel("sm90_xmma_gemm_bf16bf16_bf16f32_f32_nn_n" if "mm" in op["name"] else
                              "void at::native::vectorized_elementwise_kernel<4>", gpu_t, us, 1000 + ext, ext)]
            gpu_t += us
    return {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA H100 80GB HBM3", "numSms": 132}],
            "distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 1}, "traceEvents": ev}


def write(tmp: Path, doc: dict[str, Any], name: str = "t.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc))
    return p


def flash_ns(backward: bool, nbytes_elem: int = 2, dtype: str = "bf16") -> float:
    """Closed form (costs/formulas/attention.py): FLOPs 2 BH Lq Lk (D + Dv), twice that backward; bytes of
    q, k, v, out (and grad out, grads backward), logsumexp fp32; at ACHIEVABLE_SOL of the H100-SXM roofline."""
    gpu = get_gpu("H100-SXM")
    q, k, v, o, lse = BH * LQ * D, BH * LK * D, BH * LK * D, BH * LQ * D, BH * LQ
    flops = 2.0 * BH * LQ * LK * (D + D) * (2 if backward else 1)
    elems = (o + q + k + v + o) + (q + k + v) if backward else (q + k + v) + o
    nbytes = elems * nbytes_elem + lse * 4
    roof = max(flops / (gpu.peak_tflops(dtype) * 1e3), nbytes / gpu.hbm_bw_GBps)
    return max(roof / ACHIEVABLE_SOL, KERNEL_FLOOR_NS)


def rows(a: Any) -> dict[str, dict[str, Any]]:
    return {r["kind"]: r for r in a.opportunities.iter_rows(named=True)}


def step_ns(a: Any) -> float:
    t = a.temporal.filter(pl.col("step") >= 0)
    return float((t if t.height else a.temporal)["window"].mean())


def test_unfused_attention_is_priced_as_flash_attention(tmp_path: Path) -> None:
    a = analyze(write(tmp_path, trace()))
    att = rows(a)["unfused_attention"]
    fwd, bwd = sum(FWD_US.values()) * 1e3, sum(BWD_US.values()) * 1e3
    want = (fwd - flash_ns(False)) + (bwd - flash_ns(True))
    assert att["alone_ns"] == pytest.approx(want, rel=1e-12) and att["recover_ns"] == pytest.approx(want, rel=1e-12)
    assert 0 < att["recover_ns"] < fwd + bwd
    assert "bmm+softmax+bmm: 0.41 ms per step measured (1 forward, 1 backward" in att["evidence"]
    assert f"as SDPA flash attention: {(flash_ns(False) + flash_ns(True)) / 1e6:.2f} ms" in att["evidence"]
    assert f"{BH} batch x heads, {LQ}x{LK} scores, head dim {D}, bfloat16" in att["evidence"]
    assert "scaled_dot_product_attention" in att["action"] and "attn_implementation='sdpa'" in att["action"]


def test_far_from_sol_keeps_only_what_attention_does_not_claim(tmp_path: Path) -> None:
    a = analyze(write(tmp_path, trace()))
    far = rows(a)["far_from_sol"]
    # per speed-of-light row: attention claims its share of each span's saving; far_from_sol what is left
    # of its gap (time - SOL / 0.7) over that
    spans = [(sum(FWD_US.values()) * 1e3, flash_ns(False)), (sum(BWD_US.values()) * 1e3, flash_ns(True))]
    att_ops = {("aten::bmm", json.dumps(QK)): [(40e3, 0), (40e3, 1)], ("aten::bmm", json.dumps(PV)): [(40e3, 0), (40e3, 1)],
               ("aten::bmm", json.dumps(DV)): [(40e3, 1), (40e3, 1)], ("aten::div", None): [(30e3, 0), (30e3, 1)],
               ("aten::_softmax", None): [(50e3, 0)], ("aten::_softmax_backward_data", None): [(60e3, 1)]}
    left = 0.0
    for r in a.sol.iter_rows(named=True):
        gap = r["time_ns"] - r["sol_ns"] / ACHIEVABLE_SOL
        if r["bound_by"] not in ("compute", "memory") or gap <= 0:
            continue
        dims = json.dumps(json.loads(r["shapes"])[0]) if r["op"] == "aten::bmm" else None
        claim = sum(ns * (t - c) / t for ns, i in att_ops.get((r["op"], dims), []) for t, c in [spans[i]])
        left += max(0.0, gap - claim)
    assert far["recover_ns"] == pytest.approx(left, rel=1e-9) and far["recover_ns"] < far["alone_ns"]
    assert far["overlaps"] == "unfused_attention"


def test_fp32_attention_shares_its_products_with_fp32_matmul(tmp_path: Path) -> None:
    a = analyze(write(tmp_path, trace("float")))
    r = rows(a)
    gpu = get_gpu("H100-SXM")
    att = r["unfused_attention"]  # priced at the fp32 rate (SDPA's memory-efficient kernel takes fp32)
    want = sum(FWD_US.values()) * 1e3 - flash_ns(False, 4, "fp32") + sum(BWD_US.values()) * 1e3 - flash_ns(True, 4, "fp32")
    assert att["alone_ns"] == pytest.approx(want, rel=1e-12)
    # fp32_matmul: each compute-bound fp32 product row as the same calls in bf16 (half the bytes)
    f32 = a.sol.filter((pl.col("math_dtype") == "float32") & (pl.col("cost_category") == "matmul")
                       & (pl.col("bound_by") == "compute"))
    assert f32.height
    fix = [max(r_["calls"] * max(r_["flops"] / (gpu.peak_tflops("bf16") * 1e3), r_["bytes"] / 2 / gpu.hbm_bw_GBps)
               / ACHIEVABLE_SOL, r_["kernels"] * KERNEL_FLOOR_NS) for r_ in f32.iter_rows(named=True)]
    want32 = sum(max(0.0, t - c) for t, c in zip(f32["time_ns"].to_list(), fix, strict=True))
    assert r["fp32_matmul"]["alone_ns"] == pytest.approx(want32, rel=1e-12)
    assert "in bf16 at 70% of the H100-SXM roofline" in r["fp32_matmul"]["evidence"]
    # the products are claimed by both: counted once, the later item says with whom it shares
    lower = min(("unfused_attention", "fp32_matmul"), key=lambda k: r[k]["alone_ns"])
    assert r[lower]["recover_ns"] < r[lower]["alone_ns"] and r[lower]["overlaps"] != lower
    assert r[lower]["overlaps"] in ("unfused_attention", "fp32_matmul")


@pytest.mark.parametrize("kw", [{"mm_inside": True}, {"pv_batch": BH // 2}])
def test_no_forward_span_where_the_order_or_shapes_do_not_line_up(tmp_path: Path, kw: dict[str, Any]) -> None:
    """Another GEMM between QK^T and the softmax, or a PV product of another batch: the forward is no
    attention span (the backward still is)."""
    att = rows(analyze(write(tmp_path, trace(**kw))))["unfused_attention"]
    assert "(0 forward, 1 backward" in att["evidence"]
    assert att["alone_ns"] == pytest.approx(sum(BWD_US.values()) * 1e3 - flash_ns(True), rel=1e-12)


def test_a_span_needs_both_products() -> None:
    sm = json.dumps([[SCORES, [], []], ["c10::BFloat16", "Scalar", "Scalar"], ["", "-1", "False"]])
    qk = json.dumps([QK, ["c10::BFloat16"] * 2, ["", ""]])
    seq = [(0, 1, 1, 1, "aten::bmm", qk, 10), (0, 1, 2, 2, "aten::_softmax", sm, 10)]
    assert find_spans(seq, set()) == []
    pv = json.dumps([PV, ["c10::BFloat16"] * 2, ["", ""]])
    on_dim1 = sm.replace('"-1"', '"1"')  # a softmax over another dim is no attention
    assert len(find_spans([*seq, (0, 1, 3, 3, "aten::bmm", pv, 10)], set())) == 1
    assert find_spans([seq[0], (0, 1, 2, 2, "aten::_softmax", on_dim1, 10), (0, 1, 3, 3, "aten::bmm", pv, 10)],
                      set()) == []


@pytest.mark.parametrize("kw", [{}, {"dtype": "float"}, {"mm_inside": True}])
def test_both_engines_give_the_same_rows_and_never_more_than_the_step(tmp_path: Path, kw: dict[str, Any]) -> None:
    p = write(tmp_path, trace(**kw))
    a = analyze(p)
    q = analyze_small(p)
    assert q is not None
    assert q["tables"]["opportunities"] == a.to_dict()["tables"]["opportunities"]
    assert diff(q, a.to_dict()) == []
    o = a.opportunities
    assert float(o["recover_ns"].sum()) <= step_ns(a) and (o["recover_ns"] <= o["alone_ns"]).all()
    compute = float(a.temporal.filter(pl.col("step") >= 0)["compute"].mean())
    assert float(o.filter(pl.col("part") == "compute")["recover_ns"].sum()) <= compute


def test_count_once_counts_each_rows_time_once() -> None:
    """Two specific items and the generic one on rows a, b: a's 10 claimed 8 and 6, b's claimed 5 and 9;
    far_from_sol (largest alone, counted last) gets only what is above the largest claim on each row."""
    def row(kind: str, claims: dict[str, float]) -> dict[str, Any]:
        return {"kind": kind, "part": "compute", "alone_ns": sum(claims.values()), "claims": claims,
                "title": "", "evidence": "", "action": ""}

    out = {r["kind"]: r for r in count_once(
        [row("unfused_attention", {"a": 8.0, "b": 5.0}), row("fp32_matmul", {"a": 6.0, "b": 9.0}),
         row("far_from_sol", {"a": 10.0, "b": 9.5, "c": 4.0})],
        {"compute": 100.0, "host": 0.0, "wait": 0.0, "copy": 0.0}, 100.0)}
    assert out["fp32_matmul"]["recover_ns"] == 15.0 and out["fp32_matmul"]["overlaps"] is None  # 15 > 13: first
    assert out["unfused_attention"]["recover_ns"] == 2.0 and out["unfused_attention"]["overlaps"] == "fp32_matmul"
    assert out["far_from_sol"]["recover_ns"] == pytest.approx(2.0 + 0.5 + 4.0)
    assert out["far_from_sol"]["overlaps"] == "fp32_matmul"


REAL_WITH_SHAPES = ["trace_filter", "param_dlrm_8rank", "tracelens_h100", "tracelens_mi300"]  # with GPU kernels


@pytest.mark.parametrize("folder", REAL_WITH_SHAPES)
def test_real_traces_recorded_with_shapes(traces: Path, folder: str) -> None:
    """None of the shipped traces runs attention unfused (the TraceLens models use SDPA; trace_filter's
    softmax mixes two logits, its bmms are feature interactions): no unfused_attention there. The compute
    items never add up to more than the compute they recover from, nor recover more than they measure."""
    for p in sorted((traces / folder).rglob("*.json.gz"))[:3]:
        a = analyze(p, gpu="A100-SXM-40GB" if folder == "trace_filter" else None)
        o = a.opportunities
        assert "unfused_attention" not in o["kind"].to_list()
        assert float(o["recover_ns"].sum()) <= step_ns(a) * (1 + 1e-12)
        t = a.temporal.filter(pl.col("step") >= 0)
        compute = float((t if t.height else a.temporal)["compute"].mean())
        assert float(o.filter(pl.col("part") == "compute")["recover_ns"].sum()) <= compute * (1 + 1e-12)


def test_trace_filter_fp32_matmul_is_priced_on_its_shapes(traces: Path) -> None:
    """The real A100 example of docs/trace.md: fp32 GEMMs (recorded shapes) priced in bf16."""
    a = analyze(traces / "trace_filter" / "sampled_rank-0.json.gz", gpu="A100-SXM-40GB")
    r = rows(a)
    f = r["fp32_matmul"]
    assert "19.02 ms per step in compute-bound fp32 matmul ops" in f["evidence"]
    assert 0 < f["recover_ns"] < 19.02e6 and f["recover_ns"] == pytest.approx(13.35e6, rel=1e-3)
    assert r["far_from_sol"]["overlaps"] == "fp32_matmul"
    assert r["far_from_sol"]["recover_ns"] < r["far_from_sol"]["alone_ns"]
