import pytest

from trainperf.costs import OpCall, TensorMeta, cost, register_cost
from trainperf.costs.formulas.optimizer import multi_tensor_launches
from trainperf.vocab import OpCategory

BF16 = "bfloat16"


def T(*shape: int, dtype: str = BF16) -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def test_mm_flops_and_bytes() -> None:
    c = cost(OpCall("aten.mm.default", (T(8192, 4096), T(4096, 1024))))
    assert c is not None and c.category == OpCategory.MATMUL
    assert c.flops == 2 * 8192 * 4096 * 1024
    assert c.bytes_read == 2 * (8192 * 4096 + 4096 * 1024)
    assert c.bytes_written == 2 * 8192 * 1024
    assert (c.gemm.m, c.gemm.n, c.gemm.k) == (8192, 1024, 4096)  # type: ignore[union-attr]


def test_addmm_and_bmm() -> None:
    c = cost(OpCall("aten::addmm", (T(1024), T(64, 512), T(512, 1024), 1, 1)))
    assert c is not None and c.flops == 2 * 64 * 512 * 1024
    b = cost(OpCall("aten::bmm", (T(12, 128, 64), T(12, 64, 128))))
    assert b is not None and b.flops == 2 * 12 * 128 * 64 * 128 and b.gemm.batch == 12  # type: ignore[union-attr]


def test_grouped_mm_counts_tokens_once() -> None:
    # 4096 routed tokens over 8 experts of (1024 -> 512): 2*4096*1024*512 regardless of the split
    c = cost(OpCall("aten::_grouped_mm", (T(4096, 1024), T(8, 1024, 512), T(8, dtype="int32"))))
    assert c is not None and c.flops == 2 * 4096 * 1024 * 512


def test_attention_forward_backward_convention() -> None:
    q = T(2, 16, 1024, 128)
    fwd = cost(OpCall("aten::_scaled_dot_product_flash_attention", (q, q, q, 0.0, True, False, None)))
    assert fwd is not None and fwd.category == OpCategory.ATTENTION
    # 2·B·H·L·L·(D + Dv), causal mask not applied to FLOPs (glossary)
    assert fwd.flops == 2 * 2 * 16 * 1024 * 1024 * 256
    assert fwd.attention is not None and fwd.attention.causal
    lse = T(2, 16, 1024, dtype="float32")
    bwd = cost(OpCall("aten::_scaled_dot_product_flash_attention_backward",
                      (q, q, q, q, q, lse, None, None, 1024, 1024, 0.0, True)))
    assert bwd is not None and bwd.flops == 2 * fwd.flops and bwd.attention.backward  # type: ignore[union-attr]


def test_gqa_attention_uses_query_heads() -> None:
    q, kv = T(1, 32, 512, 128), T(1, 8, 512, 128)
    c = cost(OpCall("aten::_scaled_dot_product_flash_attention_for_cpu", (q, kv, kv, 0.0, False, None, None)))
    assert c is not None and c.flops == 2 * 32 * 512 * 512 * 256


def test_depthwise_conv_backward_not_overcounted() -> None:
    # 7x7 depthwise conv, 256 channels, 56x56, batch 8: backward = 2x forward (input + weight grads)
    x, w = T(8, 256, 56, 56), T(256, 1, 7, 7)
    fwd = cost(OpCall("aten::convolution", (x, w, None, (1, 1), (3, 3), (1, 1), False, (0, 0), 256)))
    assert fwd is not None and fwd.flops == 2 * 8 * 256 * 56 * 56 * 1 * 49
    bwd = cost(OpCall("aten::convolution_backward",
                      (x, x, w, None, (1, 1), (3, 3), (1, 1), False, (0, 0), 256, (True, True, False))))
    assert bwd is not None and bwd.flops == 2 * fwd.flops


def test_conv_output_shape_from_stride_and_padding() -> None:
    x, w = T(32, 3, 224, 224), T(64, 3, 7, 7)
    c = cost(OpCall("aten::convolution", (x, w, None, (2, 2), (3, 3), (1, 1), False, (0, 0), 1)))
    assert c is not None and c.bytes_written == 2 * 32 * 64 * 112 * 112
    assert c.flops == 2 * 32 * 64 * 112 * 112 * 3 * 49


def test_elementwise_broadcast_bytes() -> None:
    c = cost(OpCall("aten::add.Tensor", (T(4, 1024, 1024), T(1024), 1)))
    assert c is not None and c.category == OpCategory.ELEMENTWISE
    assert c.bytes_read == 2 * (4 * 1024 * 1024 + 1024)
    assert c.bytes_written == 2 * 4 * 1024 * 1024


def test_unknown_op_is_uncovered_not_zero() -> None:
    assert cost(OpCall("aten::definitely_not_an_op", (T(4),))) is None


def test_registering_twice_raises() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_cost("aten::mm")(lambda call: None)  # type: ignore[arg-type,return-value]


def test_multi_tensor_apply_launches() -> None:
    # 72 small tensors at depth 4 (AdamW: param, grad, exp_avg, exp_avg_sq) -> 36 per launch -> 2 launches
    assert multi_tensor_launches([T(10)] * 72, 4) == 2
    # one 1e9-element tensor: 15259 chunks of 65536 over 320 blocks per launch -> 48 launches
    assert multi_tensor_launches([T(10**9)], 4) == 48


def test_fused_adamw_bytes() -> None:
    ps = (T(1000, dtype="float32"),)
    c = cost(OpCall("aten::_fused_adamw_", (ps, ps, ps, ps, (), (T(dtype="float32"),), 1e-3)))
    assert c is not None and c.category == OpCategory.OPTIMIZER
    assert c.bytes_read == 4 * 4000 and c.bytes_written == 3 * 4000


def test_every_registered_name_is_a_real_aten_op() -> None:
    """Catches typos (and Python's silent concatenation of adjacent string literals in name lists)."""
    import torch

    from trainperf.costs.registry import _FORMULAS, _FREE

    missing = []
    for name in sorted(set(_FORMULAS) | _FREE):
        ns, op = name.split("::")
        if ns != "aten":
            continue
        if not hasattr(torch.ops.aten, op):
            missing.append(op)
    # named-tensor and legacy names that exist only in some torch builds
    known_elsewhere = {"align_to", "_cat"}
    unexpected = [m for m in missing if m not in known_elsewhere]
    assert not unexpected, f"not aten ops in torch {torch.__version__}: {unexpected}"


def test_index_select_and_gather_bytes_come_from_index_and_output() -> None:
    # traces record no outputs: an index_select of 4096 rows of a 50257 x 768 table reads those rows and the
    # index and writes them; it does not touch the table's other 46k rows (nor move "the second-largest
    # tensor", which is the index)
    c = cost(OpCall("aten::index_select", (T(50257, 768), 0, T(4096, dtype="int64"))))
    assert c is not None and c.category == OpCategory.EMBEDDING
    assert c.bytes_written == 4096 * 768 * 2
    assert c.bytes_read == 4096 * 768 * 2 + 4096 * 8
    # along dim 1: each index picks a column of 50257 elements
    c1 = cost(OpCall("aten::index_select", (T(50257, 768), 1, T(16, dtype="int64"))))
    assert c1 is not None and c1.bytes_written == 16 * 50257 * 2
    # gather: one element per index element (a cross-entropy target pick from 4096 x 50257 logits)
    g = cost(OpCall("aten::gather", (T(4096, 50257), 1, T(4096, 1, dtype="int64"))))
    assert g is not None and g.bytes_written == 4096 * 2 and g.bytes_read == 4096 * 2 + 4096 * 8


def test_softmax_rows_beyond_shared_memory_take_several_passes() -> None:
    # PyTorch SoftMax.cu: a row that fits the block's 48 KiB of shared memory is read once; a vocab-sized row
    # (151936 fp32 logits = 594 KiB) runs cunn_SoftMaxForward: 3 reads (max, sum of exp, write), 1 write
    n = 4096 * 151936 * 4
    c = cost(OpCall("aten::_log_softmax", (T(4096, 151936, dtype="float32"), 1, False)))
    assert c is not None and c.bytes_read == 3 * n and c.bytes_written == n
    b = cost(OpCall("aten::_log_softmax_backward_data", (T(4096, 151936, dtype="float32"),
                                                          T(4096, 151936, dtype="float32"), 1, "float32")))
    assert b is not None and b.bytes_read == 2 * 2 * n and b.bytes_written == n
    # attention scores over 4096 keys in bf16 (8 KiB a row) fit: one pass
    s = cost(OpCall("aten::_softmax", (T(8, 32, 4096, 4096), -1, False)))
    assert s is not None and s.bytes_read == s.bytes_written == 8 * 32 * 4096 * 4096 * 2
    # 24576 bf16 = exactly 48 KiB: no longer fits (strict less-than in can_use_smem)
    e = cost(OpCall("aten::_softmax", (T(16, 24576), 1, False)))
    assert e is not None and e.bytes_read == 3 * 16 * 24576 * 2


def test_grid_sampler_bilinear_closed_form() -> None:
    """RT-DETR's deformable sampling: 8 heads x 32 channels of an 80x80 value map at 300 queries x 4 points,
    bf16: four taps per output value (fewer bytes than the map), 2 FLOPs per tap."""
    inp, grid = T(8, 32, 80, 80, dtype="bfloat16"), T(8, 300, 4, 2, dtype="bfloat16")
    out = 8 * 32 * 300 * 4
    f = cost(OpCall("aten::grid_sampler_2d", (inp, grid, 0, 0, False)))
    assert f is not None and f.flops == 2 * 4 * out
    assert f.bytes_read == 4 * out * 2 + grid.nbytes and f.bytes_written == out * 2
    b = cost(OpCall("aten::grid_sampler_2d_backward", (T(8, 32, 300, 4, dtype="bfloat16"), inp, grid, 0, 0, False,
                                                        (True, True))))
    assert b is not None and b.kernels == 2 and b.flops == 5 * 4 * out
    assert b.bytes_written == inp.nbytes + 4 * out * 2 + grid.nbytes  # grad_input zeroed, its taps, grad_grid
    dense = cost(OpCall("aten::grid_sampler_2d", (T(1, 3, 8, 8), T(1, 64, 64, 2), 0, 0, False)))
    assert dense is not None and dense.bytes_read == T(1, 3, 8, 8).nbytes + T(1, 64, 64, 2).nbytes  # taps cached
