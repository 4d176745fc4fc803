"""The GPU catalog: one TOML file per GPU under hardware/data/gpus/, plus user files.

File layout (see docs/hardware.md)::

    name = "H100-SXM"            # canonical name
    vendor = "nvidia"
    family = "hopper"
    memory_type = "HBM3"
    form_factor = "SXM"
    aliases = ["NVIDIA H100 80GB HBM3", ...]
    source = "datasheet citation used for every number without its own entry under [sources]"
    [specs]                      # numbers, units in the key names (see GPUSpec)
    sm_count = 132
    ...
    [sources]                    # field -> citation, overriding `source`
    sm_count = "NVIDIA Hopper architecture whitepaper, Table 1"
"""

from __future__ import annotations

import difflib
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainperf.hardware.spec import NUMERIC_FIELDS, GPUSpec

GPU_DIR = Path(__file__).parent / "data" / "gpus"
_TOP_KEYS = {"name", "vendor", "family", "memory_type", "form_factor", "aliases", "source", "notes",
             "specs", "sources"}
_INT_FIELDS = {"sm_count"}


def _norm(s: str) -> str:
    """Key for alias matching: lower case, vendor words and punctuation dropped."""
    s = s.lower()
    s = re.sub(r"\b(nvidia|amd|tesla|instinct|geforce|radeon)\b", " ", s)
    return re.sub(r"[^a-z0-9]", "", s)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A spec file's TOML table; a missing file or bad TOML is an error naming the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such {what} file")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not valid TOML ({e})") from None


def load_gpu(path: str | Path) -> GPUSpec:
    """Load one GPU TOML file; errors name the file, the field and the value."""
    return _from_dict(read_toml(path, "GPU spec"), where=str(path))


def _from_dict(raw: dict[str, Any], *, where: str) -> GPUSpec:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("name", "vendor", "family", "specs"):
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")
    specs = raw["specs"]
    bad = set(specs) - set(NUMERIC_FIELDS)
    if bad:
        close = {b: difflib.get_close_matches(b, NUMERIC_FIELDS, 1) for b in sorted(bad)}
        raise ValueError(f"{where}: unknown [specs] fields {close} (field: closest known)")
    values: dict[str, Any] = {}
    for f, v in specs.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: [specs] {f} = {v!r} is not a number")
        values[f] = int(v) if f in _INT_FIELDS else float(v)
    default_src = raw.get("source", "")
    sources = {f: str(raw.get("sources", {}).get(f, default_src)) for f in values}
    missing_src = [f for f, s in sources.items() if not s]
    if missing_src:
        raise ValueError(f"{where}: fields {missing_src} have no source; add `source = ...` or [sources] entries")
    try:
        return GPUSpec(
            name=str(raw["name"]), vendor=str(raw["vendor"]), family=str(raw["family"]),
            memory_type=str(raw.get("memory_type", "")), form_factor=str(raw.get("form_factor", "")),
            aliases=tuple(str(a) for a in raw.get("aliases", ())), notes=str(raw.get("notes", "")),
            sources=sources, **values,
        )
    except TypeError as e:  # a required field missing from [specs]
        raise ValueError(f"{where}: {e}".replace("__init__()", "[specs]")) from None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


@lru_cache(maxsize=1)
def _catalog() -> dict[str, GPUSpec]:
    out: dict[str, GPUSpec] = {}
    for f in sorted(GPU_DIR.glob("*.toml")):
        spec = load_gpu(f)
        if spec.name in out:
            raise ValueError(f"{f}: GPU name {spec.name!r} is defined twice in the catalog")
        out[spec.name] = spec
    return out


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for spec in _catalog().values():
        for a in (spec.name, *spec.aliases):
            k = _norm(a)
            if k in idx and idx[k] != spec.name:
                raise ValueError(f"alias {a!r} names both {idx[k]} and {spec.name}")
            idx[k] = spec.name
    return idx


def list_gpus() -> list[GPUSpec]:
    """All catalog GPUs, in file order."""
    return list(_catalog().values())


def get_gpu(name: str | Path | GPUSpec) -> GPUSpec:
    """A catalog GPU by canonical name, alias or device string ("NVIDIA H100 80GB HBM3",
    "H100-SXM5-80GB (DGX-H100)"), or a user's TOML file path. KeyError with the closest names if unknown."""
    if isinstance(name, GPUSpec):
        return name
    s = str(name)
    if s.endswith(".toml") or Path(s).suffix == ".toml":
        return load_gpu(s)
    cat = _catalog()
    if s in cat:
        return cat[s]
    idx = _alias_index()
    key = _norm(s)
    if key in idx:
        return cat[idx[key]]
    # "H100-SXM5-80GB (DGX-H100)", "A100-SXM4-80GB (400W)": the system in parentheses does not change the GPU.
    base = _norm(re.sub(r"\(.*?\)", "", s))
    if base and base in idx:
        return cat[idx[base]]
    # Virtual functions and MIG-less suffixes: "AMD Instinct MI300X VF".
    for suffix in ("vf",):
        if key.endswith(suffix) and key[: -len(suffix)] in idx:
            return cat[idx[key[: -len(suffix)]]]
    close = difflib.get_close_matches(key, list(idx), n=4, cutoff=0.5)
    names = sorted({idx[c] for c in close}) or sorted(cat)[:6]
    raise KeyError(f"unknown GPU {s!r}; closest: {', '.join(names)} (see `trainperf hw list`, or pass a .toml file)")

