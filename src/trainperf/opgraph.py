"""The OpGraph table: one row per aten op of one training step (forward, backward, optimizer).

Declared once here, outside capture/ (which needs torch): capture writes it; the single-GPU model, the
parallel planner's analytic op tables and the trace pricing read it. Units are in the
column names' docs below: FLOPs (multiply-add = 2), bytes, counts. Importable without torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

SCHEMA_VERSION = 2
"""2: gemm_align. Files of version 1 read with every GEMM aligned (16), as they were priced."""

# column -> (polars dtype, meaning)
OPGRAPH_COLUMNS: dict[str, tuple[Any, str]] = {
    "idx": (pl.Int64, "position of the op in the step, in execution order"),
    "op": (pl.Utf8, "aten packet name as the profiler writes it, e.g. aten::mm"),
    "overload": (pl.Utf8, "aten overload, e.g. default / Tensor"),
    "category": (pl.Utf8, "trainperf.vocab.OpCategory"),
    "phase": (pl.Utf8, "trainperf.vocab.Phase: fwd / bwd / optimizer"),
    "module": (pl.Utf8, "fully qualified name of the innermost owning nn.Module ('' for the root)"),
    "module_type": (pl.Utf8, "class name of that module"),
    "layer": (pl.Int32, "index of the repeated block the op belongs to, -1 outside repeated blocks"),
    "input_shapes": (pl.List(pl.List(pl.Int64)), "shapes of tensor inputs (lists flattened), in order"),
    "input_dtypes": (pl.List(pl.Utf8), "dtypes of tensor inputs, same order"),
    "output_shapes": (pl.List(pl.List(pl.Int64)), "shapes of tensor outputs"),
    "output_dtypes": (pl.List(pl.Utf8), "dtypes of tensor outputs"),
    "flops": (pl.Float64, "floating-point operations, multiply-add = 2"),
    "bytes_read": (pl.Float64, "bytes the op's kernels read from memory at minimum (each input once)"),
    "bytes_written": (pl.Float64, "bytes the op's kernels write at minimum (each output once)"),
    "kernels": (pl.Int32, "GPU kernels the op launches in eager mode"),
    "math_dtype": (pl.Utf8, "dtype of the math for compute-bound ops ('' when memory-bound)"),
    "gemm_batch": (pl.Int64, "matmul/conv as GEMM: batch count (0 when not a GEMM)"),
    "gemm_m": (pl.Int64, "GEMM M"),
    "gemm_n": (pl.Int64, "GEMM N"),
    "gemm_k": (pl.Int64, "GEMM K"),
    "gemm_align": (pl.Int64, "GEMM: widest vector access its operands' leading dimensions allow, bytes (16 = "
                             "aligned; 0 when not a GEMM); costs.Gemm.align"),
    "attn_batch": (pl.Int64, "attention: batch (0 when not attention)"),
    "attn_heads": (pl.Int64, "attention: query heads"),
    "attn_q": (pl.Int64, "attention: query length"),
    "attn_kv": (pl.Int64, "attention: key/value length"),
    "attn_dim": (pl.Int64, "attention: head dim of q/k"),
    "attn_dim_v": (pl.Int64, "attention: head dim of v"),
    "attn_causal": (pl.Boolean, "attention: causal mask"),
    "attn_backward": (pl.Boolean, "attention: backward kernel"),
    "covered": (pl.Boolean, "a cost formula covers the op; False means flops/bytes are unknown (0 here)"),
}

OPGRAPH_SCHEMA: dict[str, Any] = {k: v[0] for k, v in OPGRAPH_COLUMNS.items()}


@dataclass(frozen=True, kw_only=True)
class StepMeta:
    """Whole-step facts that are not per-op. Bytes are per model replica (one GPU, no sharding)."""

    workload: str
    flavor: str
    batch: int
    seq: int | None
    dtype: str
    n_params: int
    n_params_active: int
    param_bytes: float
    grad_bytes: float
    optimizer_state_bytes: float
    activation_bytes: float
    """Bytes of tensors saved for backward at the end of the forward pass (parameters excluded)."""
    tokens_per_step: int
    """Tokens processed per step (all sequences, encoder and decoder; image patches for vision models)."""
    samples_per_step: int
    unit: str = "token"
    """What throughput counts: "token" (tokens_per_step) or "sample" (samples_per_step)."""
    model_flops: float = 0.0
    """Model FLOPs of the step by the workload's analytic convention (glossary); 0 if it has none."""
    captured_layers: int = 0
    replicated_layers: int = 0
    fake: bool = True
    optimizer: str = "adamw"
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def units_per_step(self) -> int:
        """Units of throughput per step: tokens when ``unit`` is "token", samples otherwise."""
        return self.tokens_per_step if self.unit == "token" else self.samples_per_step

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @staticmethod
    def from_json(s: str) -> StepMeta:
        d = json.loads(s)
        names = {f.name for f in dataclasses.fields(StepMeta)}
        return StepMeta(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class OpGraph:
    """One captured training step: the per-op table plus whole-step facts."""

    ops: pl.DataFrame
    meta: StepMeta

    def __post_init__(self) -> None:
        missing = [c for c in OPGRAPH_SCHEMA if c not in self.ops.columns]
        if missing:
            raise ValueError(f"OpGraph table lacks columns {missing}")

    def write_parquet(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        table = self.ops.to_arrow()
        md = dict(table.schema.metadata or {})
        md[b"trainperf.step_meta"] = self.meta.to_json().encode()
        md[b"trainperf.schema_version"] = str(SCHEMA_VERSION).encode()
        pq.write_table(table.replace_schema_metadata(md), str(path))

    @staticmethod
    def read_parquet(path: str | Path) -> OpGraph:
        import pyarrow.parquet as pq

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such OpGraph file (write one with `trainperf capture NAME -o {p}`)")
        try:
            table = pq.read_table(str(p))
        except Exception as e:  # pyarrow raises several types for a non-Parquet file
            raise ValueError(f"{p}: not a Parquet OpGraph file ({e})") from None
        md = table.schema.metadata or {}
        if b"trainperf.step_meta" not in md:
            raise ValueError(f"{p}: Parquet file has no trainperf step metadata; was it written by trainperf capture?")
        meta = StepMeta.from_json(md[b"trainperf.step_meta"].decode())
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        if "gemm_align" not in df.columns:  # version 1
            df = df.with_columns(pl.when(pl.col("gemm_m") > 0).then(16).otherwise(0).cast(pl.Int64).alias("gemm_align"))
            df = df.select(list(OPGRAPH_SCHEMA) + [c for c in df.columns if c not in OPGRAPH_SCHEMA])
        return OpGraph(ops=df, meta=meta)


def empty_opgraph_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=OPGRAPH_SCHEMA)
