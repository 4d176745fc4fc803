"""Record every aten op of a training step: a TorchDispatchMode that turns each call into an OpCall,
costs it with the formula registry, and tags it with phase and owning module.

Module attribution: forward ops take the innermost module on a stack kept by global forward hooks; a
TorchFunctionMode tags each autograd node created in forward with that module, and backward ops look up
the node the autograd engine is running (``torch._C._current_autograd_node``), so backward ops are
attributed to the module whose forward created them, exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from trainperf.costs import OpCall, TensorMeta, cost, is_free, normalize_op_name
from trainperf.vocab import OpCategory, Phase

_META_KEY = "trainperf_module"


def dtype_name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


def _meta(t: torch.Tensor) -> TensorMeta:
    try:  # layouts without strides (sparse, nested) raise here
        strides: tuple[int, ...] | None = tuple(int(s) for s in t.stride())
    except (RuntimeError, NotImplementedError):
        strides = None
    return TensorMeta(tuple(int(s) for s in t.shape), dtype_name(t.dtype), strides)


def _convert(a: Any) -> Any:
    """A Python-level aten argument -> an OpCall argument (TensorMeta, tuple, scalar, str, None)."""
    if isinstance(a, torch.Tensor):
        return _meta(a)
    if isinstance(a, (list, tuple)):
        if any(isinstance(x, torch.Tensor) for x in a):
            return tuple(_meta(x) if isinstance(x, torch.Tensor) else None for x in a)
        return tuple(_convert(x) for x in a)
    if isinstance(a, torch.dtype):
        return dtype_name(a)
    if isinstance(a, (bool, int, float, str)) or a is None:
        return a
    if isinstance(a, torch.SymInt):
        return int(a)
    return str(a)


def op_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> OpCall:
    """Positional arguments in schema order with kwargs and defaults filled in (as traces record them)."""
    full: list[Any] = []
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args):
            full.append(args[i])
        elif arg.name in kwargs:
            full.append(kwargs[arg.name])
        elif arg.has_default_value():
            full.append(arg.default_value)
        else:
            full.append(None)
    outs = out if isinstance(out, (list, tuple)) else (out,)
    flat_outs: list[TensorMeta] = []
    for o in outs:
        if isinstance(o, torch.Tensor):
            flat_outs.append(_meta(o))
        elif isinstance(o, (list, tuple)):
            flat_outs.extend(_meta(x) for x in o if isinstance(x, torch.Tensor))
    return OpCall(op=normalize_op_name(str(func)), args=tuple(_convert(a) for a in full), outputs=tuple(flat_outs))


@dataclass
class ModuleStack:
    """Innermost module of the forward pass, by fully qualified name."""

    names: dict[int, str]
    types: dict[str, str]
    stack: list[str] = field(default_factory=lambda: [""])

    @contextmanager
    def hooks(self) -> Iterator[None]:
        def pre(mod: torch.nn.Module, _args: Any) -> None:
            # a module outside the model's tree runs on behalf of its caller: transformers >= 5.25 wraps
            # functions such as apply_rotary_pos_emb in a global ``Func`` module (hub kernels), whose ops
            # belong to the attention layer that calls it
            self.stack.append(self.names.get(id(mod), self.stack[-1]))

        def post(mod: torch.nn.Module, _args: Any, _out: Any) -> None:
            if len(self.stack) > 1:
                self.stack.pop()

        h1 = torch.nn.modules.module.register_module_forward_pre_hook(pre)
        h2 = torch.nn.modules.module.register_module_forward_hook(post, always_call=True)
        try:
            yield
        finally:
            h1.remove()
            h2.remove()

    @property
    def current(self) -> str:
        return self.stack[-1]


class _TagNodes(TorchFunctionMode):
    """Tags every autograd node created in forward with the module that created it."""

    def __init__(self, modules: ModuleStack) -> None:
        super().__init__()
        self.modules = modules

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (list, tuple)) else (out,)
        for o in outs:
            gf = getattr(o, "grad_fn", None) if isinstance(o, torch.Tensor) else None
            if gf is not None:
                md = _md(gf)
                if _META_KEY not in md:
                    md[_META_KEY] = self.modules.current
        return out


def _md(node: Any) -> dict[str, Any]:
    """An autograd node's metadata dict (a property at runtime; torch's stubs type it as a method)."""
    md: dict[str, Any] = node.metadata
    return md


def propagate_tags(loss: torch.Tensor) -> None:
    """Give untagged autograd nodes the module of the nearest tagged node on their path from the loss.

    Composite ops create nodes the TorchFunctionMode never sees (F.linear on a 3-d input makes
    UnsafeView <- Mm <- View nodes; only the outermost is returned to Python): those inner nodes belong to
    the module whose output node reaches them first, walking from the loss."""
    root = loss.grad_fn
    if root is None:
        return
    seen = {id(root)}
    frontier = [root]
    while frontier:
        nxt = []
        for node in frontier:
            tag = _md(node).get(_META_KEY, "")
            for child, _ in node.next_functions:
                if child is None or id(child) in seen:
                    continue
                seen.add(id(child))
                md = _md(child)
                if _META_KEY not in md:
                    md[_META_KEY] = tag
                nxt.append(child)
        frontier = nxt


@dataclass
class Row:
    call: OpCall
    phase: Phase
    module: str


class Recorder(TorchDispatchMode):
    """Collects one Row per aten op that launches work (metadata-only ops are counted, not kept)."""

    def __init__(self, modules: ModuleStack) -> None:
        super().__init__()
        self.modules = modules
        self.phase = Phase.FWD
        self.rows: list[Row] = []
        self.free_ops = 0
        # storage -> module that produced it in forward: saved activations are charged to their producer,
        # so a tensor made once and saved by every block (RoPE cos/sin) is counted once, as in a full capture
        self.producer: dict[int, str] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = normalize_op_name(str(func))
        if is_free(name):
            self.free_ops += 1
            return out
        if self.phase == Phase.BWD:
            node = torch._C._current_autograd_node()
            module = _md(node).get(_META_KEY, "") if node is not None else ""
        else:
            module = self.modules.current
            if self.phase == Phase.FWD and not name.endswith("_"):  # in-place ops do not make new storage
                for o in out if isinstance(out, (list, tuple)) else (out,):
                    if isinstance(o, torch.Tensor):
                        # storage addresses are reused after a free: the latest producer is the live one
                        self.producer[o.untyped_storage()._cdata] = module
        self.rows.append(Row(op_call(func, tuple(args), kwargs, out), self.phase, module))
        return out


@contextmanager
def recording(model: torch.nn.Module) -> Iterator[tuple[Recorder, ModuleStack]]:
    names = {id(m): n for n, m in model.named_modules()}
    types = {n: type(m).__name__ for n, m in model.named_modules()}
    modules = ModuleStack(names=names, types=types)
    rec = Recorder(modules)
    with modules.hooks(), _TagNodes(modules), rec:
        yield rec, modules


def category_of(call_cat: OpCategory | None, module_type: str, phase: Phase) -> OpCategory:
    """Formula category, refined by the owning module: pointwise/reduction ops inside a norm module
    are the norm (RMSNorm decomposes into pow/mean/rsqrt/mul), and any op of the optimizer phase is the
    optimizer."""
    cat = call_cat or OpCategory.OTHER
    if phase == Phase.OPTIMIZER and cat in (OpCategory.ELEMENTWISE, OpCategory.REDUCTION, OpCategory.COPY):
        return OpCategory.OPTIMIZER
    if "Norm" in module_type and cat in (OpCategory.ELEMENTWISE, OpCategory.REDUCTION):
        return OpCategory.NORM
    return cat


__all__ = ["ModuleStack", "OpCall", "Recorder", "Row", "category_of", "cost", "op_call", "recording"]
