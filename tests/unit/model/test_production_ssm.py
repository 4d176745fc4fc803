"""`--kernels production` (model/production_ssm.py): naive chunked scans of hybrid mixers -> fused kernels."""

from __future__ import annotations

import math

import polars as pl
import pytest

from trainperf.costs import OpCall, TensorMeta, cost
from trainperf.costs.formulas.linear_attention import FLA_CHUNK
from trainperf.costs.formulas.ssm import SSD_BACKWARD_KERNELS, SSD_FORWARD_KERNELS
from trainperf.model import predict_step
from trainperf.model.production import production
from trainperf.model.production_ssm import MIXERS, fuse_scans, naive_rows
from trainperf.opgraph import OpGraph
from trainperf.workloads.zoo import _mixers as mx

# one Mamba-2 hybrid (8 heads x 32, state 16, 2 groups, chunk 8), one gated-DeltaNet (8 value heads of 16,
# keys of 16), one Kimi Delta Attention (4 heads of 16), tiny flavors: (workload, mixer class, fused op)
CASES = [("nemotron-h-8b", "NemotronHMamba2Mixer", "trainperf::ssd_chunk_scan"),
         ("qwen3-next-80b-a3b", "Qwen3NextGatedDeltaNet", "trainperf::chunk_gated_delta_rule"),
         ("kimi-linear-48b-a3b", "KimiLinearDeltaAttention", "trainperf::chunk_kda")]
_SCAN_OPS = ["aten::bmm", "aten::cumsum", "aten::linalg_solve_triangular"]


@pytest.fixture(scope="module")
def graphs() -> dict[str, OpGraph]:
    from trainperf.capture import capture_workload

    return {name: capture_workload(name, "tiny") for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "mixer", "op"), CASES)
def test_each_mixer_core_becomes_one_fused_forward_and_backward(graphs: dict[str, OpGraph], name: str, mixer: str,
                                                                op: str) -> None:
    g = graphs[name]
    f, n = fuse_scans(g)
    own = pl.col("module_type") == mixer
    calls = g.ops.filter(own & (pl.col("phase") == "fwd") & (pl.col("op") == "aten::cumsum"))["module"].n_unique()
    assert n == calls == g.ops.filter(own)["module"].n_unique() >= 1
    fused = f.ops.filter(pl.col("op").str.starts_with("trainperf::"))
    assert fused["op"].to_list() == [op] * n + [f"{op}_backward"] * n  # all forwards, then the backwards
    assert fused["module_type"].unique().to_list() == [mixer] and fused["covered"].all()
    # rows: the naive cores out, two fused rows per call in; no scan op of the mixer's own rows is left
    naive = naive_rows(g)
    assert f.ops.height == g.ops.height - naive.height + 2 * n
    assert f.ops.filter(own & pl.col("op").is_in(_SCAN_OPS)).height == 0
    # what stays as written: everything outside the mixer's own rows (its in/out projections, norm, the
    # attention layers, MLPs, optimizer), and its conv
    assert f.ops.filter(~own).drop("idx").equals(g.ops.filter(~own).drop("idx"))
    for conv_op in ("aten::convolution", "aten::convolution_backward"):
        assert f.ops.filter(pl.col("op") == conv_op).height == g.ops.filter(pl.col("op") == conv_op).height
    assert f.ops["idx"].to_list() == list(range(f.ops.height))


@pytest.mark.parametrize(("name", "mixer", "op"), CASES)
def test_fused_step_is_faster_and_does_no_more_work(graphs: dict[str, OpGraph], name: str, mixer: str,
                                                    op: str) -> None:
    g = graphs[name]
    f, _ = fuse_scans(g)
    fused = f.ops.filter(pl.col("op").str.starts_with("trainperf::"))
    naive = naive_rows(g)
    assert fused["flops"].sum() <= naive["flops"].sum()
    assert fused["kernels"].sum() < naive["kernels"].sum()
    assert predict_step(f, "H100-SXM").step_time_s < predict_step(g, "H100-SXM").step_time_s


@pytest.mark.parametrize(("name", "shape"), [
    ("nemotron-h-8b", [[2, 32, 8, 32], [2, 32, 8], [8], [2, 32, 2, 16]]),  # x (b, L, H, P), dt, A, B (b, L, G, N)
    ("qwen3-next-80b-a3b", [[2, 32, 8, 16], [2, 32, 8, 16], [2, 32, 8, 16], [2, 32, 8]]),  # q, k, v, g
    ("kimi-linear-48b-a3b", [[2, 32, 4, 16], [2, 32, 4, 16], [2, 32, 4, 16], [2, 32, 4, 16]]),  # g per channel
])
def test_shapes_are_read_off_the_core(graphs: dict[str, OpGraph], name: str, shape: list[list[int]]) -> None:
    # the tiny configs: nemotron-h 8 heads x 32, state 16, 2 groups (H*P + 2*G*N conv channels), chunk 8;
    # qwen3-next 8 value heads, q/k repeated to them, K = V = 16; kimi 4 heads of 16
    fwd = fuse_scans(graphs[name])[0].ops.filter(pl.col("op").str.starts_with("trainperf::")).row(0, named=True)
    assert fwd["input_shapes"][:4] == shape


def test_production_applies_every_rewrite_and_the_fleet_prices_the_fix(graphs: dict[str, OpGraph]) -> None:
    from trainperf.fleet.priorities import Fix, fix_rows
    from trainperf.hardware import get_gpu
    from trainperf.model import ExecConfig

    g = graphs["nemotron-h-8b"]
    p = production(g, causal=True)
    assert p.ops.filter(pl.col("op") == "trainperf::ssd_chunk_scan").height == 1
    rows = {r["fix"]: r for r in fix_rows("nemotron-h-8b", g, get_gpu("H100-SXM"), ExecConfig())}
    fixed = rows[Fix.FUSED_SSM_SCAN.value]
    assert fixed["fixed_step_s"] == pytest.approx(predict_step(fuse_scans(g)[0], "H100-SXM").step_time_s)
    assert fixed["fixed_step_s"] < fixed["step_s"]  # type: ignore[operator]
    # a step without these mixers comes back as it was
    types = [t for m in MIXERS for t in m.module_types]
    plain = OpGraph(ops=g.ops.filter(~pl.col("module_type").is_in(types)), meta=g.meta)
    assert fuse_scans(plain) == (plain, 0)


def T(*shape: int, dtype: str = "bfloat16") -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def test_ssd_formula_closed_form() -> None:
    b, seq, h, p, n, g, chunk = 2, 1000, 4, 8, 16, 2, 128
    x, dt, a, bc, vec = T(b, seq, h, p), T(b, seq, h), T(h, dtype="float32"), T(b, seq, g, n), T(h)
    fwd = cost(OpCall("trainperf::ssd_chunk_scan", (x, dt, a, bc, bc, chunk, vec, None, vec), outputs=(x,)))
    bwd = cost(OpCall("trainperf::ssd_chunk_scan_backward", (x, x, dt, a, bc, bc, x, chunk, vec, None, vec)))
    assert fwd is not None and bwd is not None
    t, q, nc = b * seq, chunk, math.ceil(seq / chunk)
    passing = 2.0 * b * nc * h * p * n  # inter-chunk state passing
    products = 2.0 * t * (g * q * n + h * q * p + 2 * h * n * p)  # CB, intra-chunk, states and read-out
    assert fwd.flops == pytest.approx(products + passing + 2.0 * t * h * p + 4.0 * t * h)
    # the same products as the zoo's Mamba-2 model FLOPs (per token, fwd = 1/3 of fwd+bwd)
    assert products == pytest.approx(mx.mamba2_ssd(1, seq, heads=h, head_dim=p, state=n, groups=g, chunk=chunk) / 3 * t)
    # backward: recompute + gradients, 2.5-3x the forward
    assert 2.4 * fwd.flops < bwd.flops < 3.0 * fwd.flops
    # bytes: inputs once, the output once, fp32 states, CB and two chunked cumsums written and read once
    mid = 4.0 * (b * nc * h * p * n + b * nc * g * q * q + 2 * b * h * nc * q)
    ins = x.nbytes + dt.nbytes + a.nbytes + 2 * bc.nbytes + 2 * vec.nbytes  # x, dt, A, B, C, D, dt_bias
    assert fwd.bytes_read == pytest.approx(ins + mid) and fwd.bytes_written == pytest.approx(x.nbytes + mid)
    assert (fwd.kernels, bwd.kernels) == (SSD_FORWARD_KERNELS, SSD_BACKWARD_KERNELS)
    assert fwd.gemm is not None and (fwd.gemm.m, fwd.gemm.n, fwd.gemm.k, fwd.gemm.batch) == (q, p, q, b * nc * h)


def test_gated_delta_rule_formula_closed_form() -> None:
    b, seq, h, dk, dv = 1, 4096, 32, 128, 128
    qk, v, g, beta = T(b, seq, h, dk), T(b, seq, h, dv), T(b, seq, h, dtype="float32"), T(b, seq, h)
    fwd = cost(OpCall("trainperf::chunk_gated_delta_rule", (qk, qk, v, g, beta, dk ** -0.5, None, False, True)))
    a = T(b, seq, h, FLA_CHUNK)
    bwd = cost(OpCall("trainperf::chunk_gated_delta_rule_backward", (v, qk, qk, v, g, beta, a, 0.1, None, True)))
    assert fwd is not None and bwd is not None
    c, th = FLA_CHUNK, b * seq * h
    products = 2.0 * th * (3 * dk * dv + 3 * c * dk + 2 * c * dv)  # kkt, w/u, states, output
    assert products == pytest.approx(mx.gated_delta_rule(1, heads=h, d_k=dk, d_v=dv) / 3 * b * seq)
    # + solve_tril's inverse (n^3/3 per chunk), the gate's cumsum and decays, the q/k L2 norm
    assert fwd.flops == pytest.approx(products + th * (c * c / 3 + 2 + 6 * dk))
    assert bwd.flops == pytest.approx(th * (16 * dk * dv + 18 * c * dk + 10 * c * dv + 4 * c * c + 2 + 10 * dk))
    assert (fwd.kernels, bwd.kernels) == (8, 11)  # with the two L2-norm kernels each way
    # Kimi Delta Attention: the per-channel gate (b, T, H, K) is the only difference
    kda = cost(OpCall("trainperf::chunk_kda", (qk, qk, v, T(b, seq, h, dk, dtype="float32"), beta, 0.1, None, False,
                                               True)))
    assert kda is not None and kda.flops == pytest.approx(fwd.flops + th * 2 * (dk - 1))
