"""TransformerArch of a zoo LLM (workloads/zoo), read from package data without torch.

``arch_from_workload(name)`` reads ``parallel/data/zoo_arch.toml``: one table per zoo workload with the
decoder fields of its transformers config (full depth from the workload's block-replication record), its
maximum positions, or the one-line reason the planner refuses it (hybrid state-space layers, encoders...).
Building the model to read its config imports torch and transformers (about 5-10 s); the table answers
in microseconds. ``build_arch`` is that slow path, used to (re)generate the table:

    python -m trainperf.parallel.zoo_arch            # rewrite the table from every zoo workload
    python -m trainperf.parallel.zoo_arch --check    # exit 1 if the table differs from the configs

tests/unit/parallel/test_zoo_arch_data.py rebuilds a few entries from the real configs and compares, so
the table cannot drift from the recipes.
"""

from __future__ import annotations

import dataclasses
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainperf.parallel.arch import TransformerArch, from_hf_config

DATA = Path(__file__).with_name("data") / "zoo_arch.toml"
_FIELDS = [f.name for f in dataclasses.fields(TransformerArch) if f.name != "name"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ZooEntry:
    """One zoo workload as the planner sees it: an architecture and its position limit, or a refusal."""

    name: str
    arch: TransformerArch | None = None
    max_seq: int = 0
    """max_position_embeddings / n_positions of the config (0 = not stated)."""
    refused: str = ""


def _gpt2_like(name: str, cfg: Any, layers: int) -> TransformerArch:
    d = int(cfg.n_embd)
    return TransformerArch(name=name, n_layers=layers, hidden=d, ffn_hidden=int(getattr(cfg, "n_inner", None) or 4 * d),
                           n_heads=int(cfg.n_head), n_kv_heads=int(cfg.n_head), vocab=int(cfg.vocab_size),
                           gated_mlp=False, tied_embeddings=True)


def _max_seq(w: Any) -> int:
    """The longest sequence the workload's own build accepts: the single-GPU path refuses a seq beyond a
    learned position table (GPT-2's 1024) with "exceeds the model's N positions"; RoPE models take any (0)."""
    import re

    from trainperf.workloads.registry import MAX_SEQ, Size

    try:  # the longest seq any workload accepts: a learned table refuses it, naming its size
        w.build("full", Size(seq=MAX_SEQ), reduced=w.supports_reduced)
    except ValueError as e:
        m = re.search(r"exceeds the model's (\d+) positions", str(e))
        if m:
            return int(m.group(1))
    return 0


def build_arch(name: str) -> ZooEntry:
    """The slow path: build the workload on the meta device (torch + transformers) and read its config."""
    import torch

    from trainperf.workloads.registry import get_workload

    w = get_workload(name)
    built = w.build("full", reduced=w.supports_reduced)
    with torch.device("meta"):
        model = built.make_model()
    cfg = getattr(model, "config", None)
    if cfg is None:
        return ZooEntry(name=name, refused=f"workload {name!r} has no transformers config; the parallel planner "
                                           "needs a decoder LLM")
    cfg = getattr(cfg, "text_config", None) or cfg
    layers = len(built.repeats[0].full_to_captured) if built.repeats else None
    max_seq = _max_seq(w)
    try:
        if hasattr(cfg, "n_embd"):
            arch = _gpt2_like(name, cfg, layers or int(cfg.n_layer))
        elif not hasattr(cfg, "num_hidden_layers") or getattr(cfg, "is_encoder_decoder", False):
            return ZooEntry(name=name, refused=f"workload {name!r} ({type(model).__name__}) is not a decoder-only "
                                               "LLM the planner covers")
        else:
            arch = from_hf_config(name, cfg)
            if built.repeats:  # full depth; leading dense layers = full blocks copied from a captured dense one
                f2c = built.repeats[0].full_to_captured
                dense = sum(1 for c in f2c if c < arch.dense_layers) if arch.is_moe else 0
                arch = dataclasses.replace(arch, n_layers=len(f2c), dense_layers=dense)
    except ValueError as e:
        return ZooEntry(name=name, refused=str(e))
    return ZooEntry(name=name, arch=arch, max_seq=max_seq)


@lru_cache(maxsize=1)
def load_table(path: Path = DATA) -> dict[str, ZooEntry]:
    import tomllib

    with path.open("rb") as f:
        raw = tomllib.load(f)
    out: dict[str, ZooEntry] = {}
    for name, t in raw.items():
        if "refused" in t:
            out[name] = ZooEntry(name=name, refused=str(t["refused"]))
            continue
        kw = {k: t[k] for k in _FIELDS if k in t}
        out[name] = ZooEntry(name=name, arch=TransformerArch(name=name, **kw), max_seq=int(t.get("max_seq", 0)))
    return out


def zoo_entry(name: str) -> ZooEntry:
    """The table's entry for ``name`` (a zoo name or alias); KeyError naming the choices if unknown."""
    table = load_table()
    if name in table:
        return table[name]
    from trainperf.workloads.registry import get_workload  # resolves aliases; raises the zoo's own message

    w = get_workload(name)
    if w.name in table:
        return table[w.name]
    if str(w.domain) not in ("llm", "moe"):
        return ZooEntry(name=w.name, refused=f"workload {w.name!r} is a {w.domain} model; the parallel planner "
                                             f"covers decoder LLMs (`trainperf zoo llm`, `trainperf zoo moe`); "
                                             f"predict it on one GPU with `trainperf predict {w.name}`")
    canonical = w.name
    raise KeyError(f"zoo workload {canonical!r} is not in {DATA.name}; regenerate it with "
                   "`python -m trainperf.parallel.zoo_arch`")


def arch_from_workload(name: str) -> TransformerArch:
    """The decoder architecture of a zoo workload (``llama3.1-405b``, ``qwen3-8b``...); ValueError if the
    workload is not a decoder-only transformer the planner covers."""
    e = zoo_entry(name)
    if e.arch is None:
        raise ValueError(e.refused)
    return e.arch


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_table(entries: list[ZooEntry]) -> str:
    lines = ["# Zoo LLM architectures for the parallel planner, generated by `python -m trainperf.parallel.zoo_arch`",
             "# from each workload's transformers config (do not edit by hand). Fields: parallel/arch.py TransformerArch;",
             "# max_seq = the longest seq the workload accepts (learned position tables; absent = any, RoPE);",
             "# refused = why the planner does not cover it.", ""]
    default = {f.name: f.default for f in dataclasses.fields(TransformerArch)}
    for e in sorted(entries, key=lambda e: e.name):
        lines.append(f'["{e.name}"]')
        if e.arch is None:
            lines.append(f"refused = {_toml_value(e.refused)}")
        else:
            for k in _FIELDS:
                v = getattr(e.arch, k)
                if k in ("n_layers", "hidden", "ffn_hidden", "n_heads", "n_kv_heads", "vocab") or v != default[k]:
                    lines.append(f"{k} = {_toml_value(v)}")
            if e.max_seq:
                lines.append(f"max_seq = {e.max_seq}")
        lines.append("")
    return "\n".join(lines)


def _zoo_llm_names() -> list[str]:
    from trainperf.workloads.registry import list_workloads

    return [w.name for w in list_workloads() if str(w.domain) in ("llm", "moe")]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    entries = [build_arch(n) for n in _zoo_llm_names()]
    text = render_table(entries)
    if "--check" in args:
        same = DATA.exists() and DATA.read_text() == text
        print(f"{DATA}: {'up to date' if same else 'differs from the zoo configs; regenerate it'}")
        return 0 if same else 1
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_text(text)
    print(f"wrote {DATA}: {sum(e.arch is not None for e in entries)} architectures, "
          f"{sum(e.arch is None for e in entries)} refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
