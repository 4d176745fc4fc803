"""Ops that only change tensor metadata or allocate without writing: no kernel, no bytes."""

from trainperf.costs.registry import register_free

register_free(*(f"aten::{n}" for n in [
    "view", "_unsafe_view", "reshape", "t", "transpose", "transpose_", "permute", "expand", "expand_as",
    "unsqueeze", "unsqueeze_", "squeeze", "squeeze_", "slice", "select", "as_strided", "as_strided_",
    "detach", "detach_", "alias", "split", "split_with_sizes", "chunk", "unbind", "narrow", "lift_fresh",
    "lift_fresh_copy", "_reshape_alias", "diagonal", "view_as_real", "view_as_complex", "unfold", "empty",
    "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize_", "set_", "is_same_size",
    "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "_has_compatible_shallow_copy_type",
    "record_stream", "result_type", "view_as", "flatten", "unflatten", "movedim", "swapaxes", "numpy_T",
    "_nested_tensor_from_tensor_list", "item", "dim", "size", "stride", "is_nonzero", "to", "contiguous", "dropout",
    "_to_dense", "conj", "_conj", "resolve_conj", "resolve_neg", "_neg_view", "real", "imag", "matmul",
    "linear", "_assert_async", "_assert_tensor_metadata", "_functional_assert_async", "_make_dep_token",
    "_resize_output_", "align_to", "_shape_as_tensor", "retain_grad", "requires_grad_",
    "_version", "output_nr", "_fw_primal", "_make_dual", "_unpack_dual", "scaled_dot_product_attention",
    "dropout_", "feature_dropout", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "cross_entropy_loss", "nll_loss", "nll_loss_nd", "softmax", "log_softmax", "einsum", "unsafe_split",
]), "prim::device", "prim::layout", "prim::dtype", "profiler::_record_function_enter_new",
    "profiler::_record_function_exit", "profiler::_record_function_enter")
