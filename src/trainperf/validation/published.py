"""Rows of shared/data/published/published_training_perf.csv -> (architecture, plan, cluster).

Every input comes from the row: architecture columns, GPU type string, GPU count, layout, batch,
recompute and precision. Where the row leaves a setting out, a documented default applies (listed in
DEFAULTS and docs/parallel.md); the software stack named by the row's source family sets the framework
behaviour it documents (comm overlaps, reduce dtype), never a correction of the prediction.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from trainperf.hardware import get_gpu
from trainperf.hardware.cluster import ClusterSpec, get_cluster
from trainperf.parallel.arch import TransformerArch
from trainperf.parallel.framework import Framework, preset
from trainperf.parallel.plan import ParallelPlan, Recompute, Sharding

DEFAULTS = {
    "tp/pp/cp/ep/vp": "1 when empty; when only dp is given, model-parallel size = gpus/(dp*cp) split as tp = min(8, mp), pp = mp/tp",
    "mbs": "1 when empty (FlashAttention rows: 16384 tokens per micro-batch, capped by the batch; torchtitan "
           "pipelines: as many micro-batches as pipeline stages, its pipeline_parallel_microbatches default)",
    "vp": "1 when empty; 2 when the notes name an interleaved schedule without stages per rank",
    "gbs": "mbs * dp when empty (one micro-batch per step)",
    "etp": "1 for MoE rows (Megatron-Bridge MoE recipes set expert_tensor_parallel_size = 1)",
    "recompute": "empty -> the least recomputation that fits memory: none, then selective, then full",
    "sharding": "fsdp/zero3/megatron_fsdp -> zero3; shard_grad_op -> zero2; 'ddp (distributed optimizer not stated)' "
                "and empty -> zero1 (Megatron distributed optimizer); 'none (DDP)' -> ddp",
    "precision": "empty/bf16 -> bf16; fp16_mixed -> fp16; fp8, fp8_cs, fp8_blockwise, mxfp8 -> fp8; nvfp4 -> fp4",
}



@cache
def _recipes() -> dict[str, Any]:
    """validation/data/recipes.toml: model-config details and Megatron-Bridge MoE recipes, each cited there."""
    return tomllib.loads((Path(__file__).parent / "data" / "recipes.toml").read_text())


def _arch_details() -> list[tuple[str, dict[str, Any]]]:
    """(model-name pattern, TransformerArch fields) the CSV columns do not carry, in file order."""
    return [(d["pattern"], {k: v for k, v in d.items() if k != "pattern"}) for d in _recipes()["arch_details"]]


def _moe_recipes() -> list[tuple[str, str, str, str, tuple[int, int, int] | None]]:
    """(pattern, gpu, precision, dispatcher, graphs_from) rows; gpu / precision "" = any."""
    return [(r["pattern"], r.get("gpu", ""), r.get("precision", ""), r["dispatcher"],
             tuple(r["graphs_from"]) if "graphs_from" in r else None)  # type: ignore[misc]
            for r in _recipes()["moe_recipes"]]


# GPT-3 model family, Brown et al. 2020 Table 2.1: (params, layers, d_model). Shapes for rows that give
# only a parameter count: nearest family member's depth, width solved from 12 * L * d^2 = N.
_GPT3 = [(125e6, 12, 768), (350e6, 24, 1024), (760e6, 24, 1536), (1.3e9, 24, 2048), (2.7e9, 32, 2560),
         (6.7e9, 32, 4096), (13e9, 40, 5140), (175e9, 96, 12288)]
_CLUSTER_BY_FAMILY = {"ampere": "dgx-a100", "hopper": "dgx-h100", "blackwell": "dgx-b200",
                      "blackwell-ultra": "dgx-b200", "volta": "dgx-a100"}
_PRECISION = {"bf16": "bf16", "fp16_mixed": "fp16", "fp16": "fp16", "fp8": "fp8", "fp8_cs": "fp8",
              "fp8_blockwise": "fp8", "mxfp8": "fp8", "nvfp4": "fp4"}
_MEGATRON = ("mbridge", "nemo2407", "nemo2403_longseq", "megatron_h100")
SQUAD_DOC_TOKENS = 256
"""Mean tokens of one SQuAD v1.1 fine-tuning example (context paragraph ~120 words, question ~10, answer
and prompt template; Rajpurkar et al. 2016 Table 2 statistics, ~1.3 tokens per word), rounded up. Rows that
pack SQuAD into long sequences attend within each example."""
_FRAMEWORK = {"foundry": Framework.LLM_FOUNDRY, "torchtitan": Framework.TORCHTITAN,
              "megatron_sc21": Framework.MEGATRON_LM, "flashattn2": Framework.FLASH_ATTN,
              "flashattn_repo": Framework.FLASH_ATTN, **dict.fromkeys(_MEGATRON, Framework.MEGATRON_CORE)}
"""Source family -> the stack its runs used (parallel/framework.py presets)."""


def row_framework(fam: str, zero_or_fsdp: str) -> Framework:
    """The framework of a row: its source family's, or Megatron-DeepSpeed where the row names DeepSpeed."""
    if "deepspeed" in zero_or_fsdp.lower():
        return Framework.MEGATRON_DEEPSPEED
    return _FRAMEWORK.get(fam, Framework.MEGATRON_CORE)


def container_release(notes: str) -> tuple[int, int, int] | None:
    """(year, month, patch) of the 'release: YY.MM[.patch] NeMo Container' note of Megatron-Bridge rows."""
    m = re.search(r"release: (\d+)\.(\d+)(?:\.(\d+))?", notes)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def moe_recipe(fam: str, notes: str, gpu_type: str, model_name: str, precision: str) -> tuple[str, bool]:
    """(ep_dispatcher, moe_cuda_graphs) of the row's Megatron-Bridge MoE recipe (data/recipes.toml);
    ("alltoall", False) for every other stack or recipe."""
    rel = container_release(notes) if fam == "mbridge" else None
    if rel is None:
        return "alltoall", False
    gpu = gpu_type.upper().split()[0]
    for pat, g, prec, dispatcher, graphs_from in _moe_recipes():
        if re.search(pat, model_name, re.I) and g in ("", gpu) and prec in ("", precision.lower()):
            return dispatcher, graphs_from is not None and rel >= graphs_from
    return "alltoall", False


class Unsupported(Exception):
    """A row the model cannot describe (reason in the message)."""


@dataclass(frozen=True, kw_only=True)
class RowSetup:
    id: str
    arch: TransformerArch
    plan: ParallelPlan
    cluster: ClusterSpec
    recompute_given: bool
    layout_given: bool = True
    notes: list[str] = field(default_factory=list)


def _num(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _int(row: dict[str, Any], key: str, default: int | None = None) -> int | None:
    v = _num(row, key)
    return round(v) if v is not None else default


def source_family(row_id: str) -> str:
    return row_id.rsplit("-", 1)[0]


def proxy_dense(name: str, n_params: float, vocab: int, seq: int) -> TransformerArch:
    """A GPT-3-shaped dense stand-in with ``n_params`` parameters: the GPT-3 family member itself when
    one is within 10% (GPT3-125M ... 175B), else the nearest member's depth with the width solved from
    12 L d^2 = N, rounded to 512 (heads of 128 in multiples of 4, so common tp degrees divide them)."""
    n_ref, layers, d = min(_GPT3, key=lambda r: abs(math.log(r[0] / n_params)))
    if abs(n_ref / n_params - 1) > 0.1:
        d = max(512, round(math.sqrt(n_params / (12 * layers)) / 512) * 512)
    head = 64 if d < 2048 else 128  # GPT-3 / FlashAttention configs: 64 for small widths, 128 above
    heads = max(1, d // head)
    return TransformerArch(name=name, n_layers=layers, hidden=d, ffn_hidden=4 * d, n_heads=heads,
                           n_kv_heads=heads, vocab=vocab, head_dim=head if d % head else 0, gated_mlp=False,
                           tied_embeddings=True)


def proxy_moe(name: str, total: float, active: float, vocab: int, seq: int) -> TransformerArch:
    """An MoE stand-in: the GPT-3-shaped dense proxy of the active parameters whose MLP becomes top-8 routed
    experts, with enough experts (a multiple of 8) to hold the total parameters."""
    base = proxy_dense(name, active, vocab, seq)
    d, layers, topk = base.hidden, base.n_layers, 8
    mlp_active = max(active / layers - base.attn_params(), d * 128 * 3 * topk)
    width = max(128, round(mlp_active / (3 * d * topk) / 64) * 64)
    experts = max(topk, round((total / layers - base.attn_params()) / (3 * d * width) / 8) * 8)
    return TransformerArch(name=name, n_layers=layers, hidden=d, ffn_hidden=0, n_heads=base.n_heads,
                           n_kv_heads=base.n_kv_heads, vocab=vocab, moe_experts=experts, moe_topk=topk,
                           moe_ffn_hidden=width, tied_embeddings=True)


def row_arch(row: dict[str, Any]) -> tuple[TransformerArch, list[str]]:
    name = str(row["model_name"])
    notes: list[str] = []
    layers, hidden, heads = _int(row, "n_layers"), _int(row, "hidden"), _int(row, "n_heads")
    vocab = _int(row, "vocab") or 51200
    if layers and hidden and heads:
        details: dict[str, Any] = {}
        for pat, d in _arch_details():
            if re.search(pat, name, re.I):
                details.update(d)
        ffn = _int(row, "ffn_hidden") or 4 * hidden
        experts, topk = _int(row, "moe_experts", 0) or 0, _int(row, "moe_topk", 0) or 0
        moe = experts > 0
        gated = moe or not (3.9 <= ffn / hidden <= 4.1)  # 4h MLPs are GELU / squared-ReLU (MPT, GPT, Nemotron-4)
        return TransformerArch(
            name=name, n_layers=layers, hidden=hidden, ffn_hidden=details.get("dense_ffn", ffn if not moe else 0),
            n_heads=heads, n_kv_heads=_int(row, "n_kv_heads") or heads, vocab=vocab,
            head_dim=details.get("head_dim", 0), v_head_dim=details.get("v_head_dim", 0), gated_mlp=gated,
            moe_experts=experts, moe_topk=topk, moe_ffn_hidden=ffn if moe else 0,
            shared_experts=details.get("shared_experts", 0) if moe else 0,
            dense_layers=details.get("dense_layers", 0) if moe else 0, q_lora_rank=details.get("q_lora_rank", 0),
            kv_lora_rank=details.get("kv_lora_rank", 0), tied_embeddings=details.get("tied", False),
        ), notes
    total = _num(row, "n_params_b")
    m = re.search(r"(\d+(?:\.\d+)?)B-A(\d+(?:\.\d+)?)B", name)
    if str(row.get("arch")) != "dense_decoder" and not m:
        raise Unsupported("architecture columns empty and the name gives no active-parameter count")
    if total is None:
        raise Unsupported("architecture columns and parameter count empty")
    seq = _int(row, "seq_len", 2048) or 2048
    if m:
        tot, act = float(m.group(1)) * 1e9, float(m.group(2)) * 1e9
        notes.append(f"arch inferred: GPT-3-shaped top-8 MoE proxy, {tot / 1e9:g}B total, {act / 1e9:g}B active")
        return proxy_moe(name, tot, act, vocab, seq), notes
    notes.append(f"arch inferred: GPT-3-shaped dense proxy with {total:g}B parameters")
    return proxy_dense(name, total * 1e9, vocab, seq), notes


def row_cluster(row: dict[str, Any]) -> ClusterSpec:
    gtype = str(row["gpu_type"])
    gpu = get_gpu(gtype)
    if "NVL72" in gtype or gpu.name in ("GB200", "GB300"):
        return get_cluster("gb300-nvl72" if gpu.name == "GB300" else "gb200-nvl72").with_gpu(gpu)
    if "HBM2e" in gpu.name:
        return get_cluster("grand-teton-h100").with_gpu(gpu)
    if "roce" in str(row.get("notes", "")).lower():
        return get_cluster("a100-roce-1600").with_gpu(gpu)
    if gpu.family not in _CLUSTER_BY_FAMILY:
        raise Unsupported(f"no cluster fabric for {gpu.name} ({gpu.family})")
    return get_cluster(_CLUSTER_BY_FAMILY[gpu.family]).with_gpu(gpu)


def _sharding(z: str | None, family: str) -> tuple[Sharding, int]:
    s = (z or "").lower()
    if "shard_grad_op" in s or "zero2" in s:
        return Sharding.ZERO2, 0
    if any(k in s for k in ("fsdp", "zero3")):
        return Sharding.ZERO3, 0
    if s.startswith("none"):
        return Sharding.DDP, 0
    return Sharding.ZERO1, 0


def row_setup(row: dict[str, Any], recompute: str | None = None) -> RowSetup:
    """Arch, plan and cluster of one row; raises Unsupported or ValueError (an impossible layout)."""
    rid = str(row["id"])
    fam = source_family(rid)
    notes_txt = str(row.get("notes") or "")
    if "no FlashAttention" in notes_txt:
        raise Unsupported("unfused (non-flash) attention baseline is not modeled")
    arch, notes = row_arch(row)
    cluster = row_cluster(row)
    gpus = _int(row, "n_gpus")
    if not gpus:
        raise Unsupported("n_gpus empty")
    tp, pp, cp = _int(row, "tp"), _int(row, "pp"), _int(row, "cp", 1) or 1
    dp_given = _int(row, "dp")
    layout_given = not (tp is None and pp is None and dp_given is None)
    if tp is None and pp is None and dp_given:
        mp = gpus // (dp_given * cp)
        tp = min(8, mp)
        pp = mp // tp
        notes.append(f"tp/pp not given: model-parallel {mp} split as tp={tp}, pp={pp}")
    tp, pp = tp or 1, pp or 1
    dp = gpus // (tp * pp * cp)
    seq = _int(row, "seq_len") or 2048
    mbs = _int(row, "micro_batch")
    vp = _int(row, "vp", 1) or 1
    if vp == 1 and pp > 1 and "interleaved" in notes_txt.lower():
        vp = 2  # interleaved schedule with stages per rank not stated: the least interleaving
        notes.append("interleaved, stages per rank not stated: vp=2")
    gbs_given = _int(row, "global_batch_seqs")
    if mbs is None and fam == "torchtitan" and pp > 1 and gbs_given:
        # torchtitan pipeline_parallel_microbatches defaults to the number of stages (pp x stages per rank)
        mbs = max(1, gbs_given // (dp * pp * vp))
        notes.append(f"micro-batches = pipeline stages {pp * vp} (torchtitan default): mbs={mbs}")
    if mbs is None:
        mbs = max(1, 16384 // seq) if fam.startswith("flashattn") else 1
    gbs = gbs_given or mbs * dp
    mbs = min(mbs, max(1, gbs // dp))
    if gbs % (mbs * dp):
        mbs = math.gcd(mbs, gbs // dp) if gbs % dp == 0 else mbs
        if gbs % (mbs * dp):
            gbs = max(1, round(gbs / (mbs * dp))) * mbs * dp
            notes.append(f"global batch rounded to {gbs} (a multiple of mbs*dp)")
    if vp > 1 and (gbs // (mbs * dp)) % pp:
        vp = 1
        notes.append("interleaving dropped: micro-batches not a multiple of pp")
    ep = _int(row, "ep", 1) or 1
    if not arch.is_moe and ep > 1:
        notes.append(f"ep={ep} folded into data parallel (dense proxy architecture)")
        ep = 1
    sharding, _ = _sharding(row.get("zero_or_fsdp"), fam)
    prec = _PRECISION.get(str(row.get("precision") or "bf16").lower())
    if prec is None:
        raise Unsupported(f"precision {row.get('precision')!r} not modeled")
    rc_given = bool(row.get("recompute"))
    rc = recompute or (str(row["recompute"]) if rc_given else "none")
    pure = "precision=bf16" in notes_txt or "MP mode=PURE" in notes_txt
    fw = preset(row_framework(fam, str(row.get("zero_or_fsdp") or "")))
    dispatcher, graphed = moe_recipe(fam, notes_txt, str(row["gpu_type"]), str(row["model_name"]),
                                     str(row.get("precision") or "bf16")) if arch.is_moe else ("alltoall", False)
    plan = ParallelPlan(
        gpus=gpus, tp=tp, pp=pp, cp=cp, ep=ep, etp=1 if arch.is_moe else 0, vp=vp, mbs=mbs, gbs=gbs, seq=seq,
        sequence_parallel=True, sharding=sharding, recompute=Recompute(rc), precision=prec,
        grad_reduce_bytes=2 if pure else 4, lora="lora" in notes_txt.lower(),
        packed_doc_len=min(SQUAD_DOC_TOKENS, seq) if re.search(r"squad[^;]*packed", notes_txt, re.I) else 0,
        ep_dispatcher=dispatcher, moe_cuda_graphs=graphed,
        # the stack's defaults (attention kernels, fusion, TP overlap, fused loss, ZeRO-3 gathers, FSDP
        # resharding under pipelining); async TP where the row's notes say it ran
        **(fw.plan_fields(pp=pp) | ({"tp_comm_overlap": True} if "asynctp" in notes_txt.lower() else {})),
    )
    return RowSetup(id=rid, arch=arch, plan=plan, cluster=cluster, recompute_given=rc_given,
                    layout_given=layout_given, notes=notes)


def measured_tokens(row: dict[str, Any], arch: TransformerArch | None) -> tuple[float | None, str]:
    """Measured tokens/s/GPU, derived from the source's TFLOP/s and its FLOP convention when only that is
    given (README caveats 1-2). Returns (value, how)."""
    v = _num(row, "measured_tokens_per_s_per_gpu")
    if v:
        return v, "measured"
    fam = source_family(str(row["id"]))
    tf = _num(row, "measured_tflops_per_gpu")
    mfu = _num(row, "measured_mfu")
    if tf is None and mfu is not None and fam == "megatron_h100":
        tf = mfu * 989.0  # README: MFU against the 989 TFLOP/s BF16 dense peak
    if tf is None or arch is None:
        return None, "no throughput"
    s, layers, h, vocab = (_int(row, "seq_len") or 2048), arch.n_layers, arch.hidden, arch.vocab
    megatron = layers * h * h * (1 + s / (6 * h) + vocab / (16 * layers * h))
    if fam == "megatron_sc21":  # Narayanan et al. eq. 3, recompute included: 96 B s l h^2 (...)
        return tf * 1e12 / (96 * megatron), "derived from TFLOP/s (SC21 eq. 3, with recompute)"
    if fam == "megatron_h100":  # same formula without recompute (x3 passes, not x4)
        return tf * 1e12 / (72 * megatron), "derived from TFLOP/s (Megatron model FLOPs, 72 B s l h^2 (...))"
    if fam == "flashattn2":  # FA2 paper: 6 s N + 12 L h s^2 per sequence
        n = (_num(row, "n_params_b") or 0) * 1e9
        return tf * 1e12 / (6 * n + 12 * layers * h * s), "derived from TFLOP/s (FA2: 6N + 12 L h s per token)"
    return None, "only TFLOP/s, convention unknown"
