"""Kernel name -> OpCategory, by name rules for NVIDIA (cuBLAS/cuBLASLt/CUTLASS/cuDNN, FlashAttention,
NCCL, PyTorch's native kernels, Triton from Inductor) and AMD (Tensile ``Cijk_`` GEMMs, hipBLASLt,
Composable Kernel, RCCL, MIOpen). First matching rule wins, so the order matters: communication before
everything (NCCL kernels mention reductions), attention and conv before matmul (their kernels are GEMMs
underneath and often say ``gemm``), norm and optimizer before the generic elementwise/reduction rules.
"""

from __future__ import annotations

import re
from functools import lru_cache

from trainperf.vocab import OpCategory

_C = OpCategory
# (category, regex) in priority order, matched on the lower-cased kernel name.
RULES: tuple[tuple[OpCategory, str], ...] = (
    (_C.COMMUNICATION, r"nccl|rccl|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all|"
                       r"cross_device_reduce|multimem|c10d|_allreduce|one_?shot|two_?shot"),
    (_C.ATTENTION, r"flash|fmha|attention|attn|_fwd_kernel|_bwd_kernel|mha_|sdpa|cudnn_sdpa|paged"),
    (_C.CONV, r"conv(?!ert)|fprop|dgrad|wgrad|implicit|winograd|scudnn|im2col|col2im|nchwtonhwc|nhwctonchw|"
              r"miopen|igemm|xmma_.*(fprop|dgrad|wgrad)|cask_cudnn"),
    (_C.NORM, r"norm|bn_fw|bn_bw|cudnn::bn|welford|rms_?norm|batch_norm|rowwisemoments|gammabeta"),
    (_C.OPTIMIZER, r"multi_tensor_apply|adam|sgd|lamb(?!da)|lion|_foreach|optimizer|adagrad"),
    (_C.MATMUL, r"gemm|gemv|cutlass|xmma|nvjet|cublas|cijk_|matmul|wgmma|hgemm|sgemm|_mm_|triton_tem|"
                r"triton_mm|bmm|dot_kernel|splitkreduce|hipblaslt|ck_gemm|device_gemm|tensorop"),
    (_C.EMBEDDING, r"embedding|indexselect|index_select|embeddingbag|embedding_bag"),
    (_C.REDUCTION, r"reduce|reduction|softmax|cross_entropy|nll_loss|argmax|argmin|topk|cumsum|scan|"
                   r"triton_red|triton_per|sort|radix|histogram|norm_kernel|sum_kernel|mean_kernel|pool"),
    (_C.ELEMENTWISE, r"elementwise|vectorized|unrolled|pointwise|triton_poi|functor|fill|copy|cat_?array|"
                     r"catarray|where|masked|dropout|gelu|relu|silu|swish|tanh|sigmoid|activation|index|"
                     r"scatter|gather|clamp|pow|exp|log|add|mul|div|sub|cast|transpose|permute|contiguous|"
                     r"__amd_rocclr|kernel_func|upsample|pad|roll|flip|tril|triu|arange|scale"),
)
_COMPILED = tuple((c, re.compile(p)) for c, p in RULES)


@lru_cache(maxsize=1 << 16)
def kernel_category(name: str, cat: str = "kernel") -> OpCategory:
    """Category of one GPU event (memcpy/memset are COPY whatever their name)."""
    if cat in ("gpu_memcpy", "gpu_memset"):
        return OpCategory.COPY
    low = name.lower()
    for c, rx in _COMPILED:
        if rx.search(low):
            return c
    return OpCategory.OTHER


# The three kinds HTA and most tools split GPU time into.
COMPUTE_KINDS = frozenset(c.value for c in OpCategory) - {OpCategory.COMMUNICATION.value, OpCategory.COPY.value}
