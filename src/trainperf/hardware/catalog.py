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
    [device_match]               # optional: a trace's deviceProperties that identify the part when the
    names = ["AMD Radeon Graphics"]   # device name is shared by several parts (ROCm's generic names)
    numSms = 104                 # exact; also computeMajor, computeMinor
    totalGlobalMem_GiB = 64      # within 5% (the runtime reports a little less than the stacks hold)
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainperf.hardware.spec import NUMERIC_FIELDS, GPUSpec

GPU_DIR = Path(__file__).parent / "data" / "gpus"
_TOP_KEYS = {"name", "vendor", "family", "memory_type", "form_factor", "aliases", "source", "notes",
             "specs", "sources", "device_match"}
_INT_FIELDS = {"sm_count"}
_MATCH_INTS = ("numSms", "computeMajor", "computeMinor")  # deviceProperties keys compared exactly
_MEM_TOL = 0.05


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


@dataclass(frozen=True)
class DeviceMatch:
    """deviceProperties (as a PyTorch profiler trace writes them) that identify one catalog GPU when its
    device name is shared by several parts: ROCm writes "AMD Radeon Graphics" for every gfx90a device in
    some versions, and "AMD Instinct MI250X / MI250" for both parts' GCDs in others."""

    gpu: str
    names: frozenset[str]
    """Normalized (_norm) device names this rule applies to."""
    ints: Mapping[str, int]
    """numSms / computeMajor / computeMinor: equal when the trace gives them; numSms is required."""
    mem_GiB: float | None
    """totalGlobalMem within 5% when given."""

    def matches(self, props: Mapping[str, Any]) -> bool:
        if "numSms" not in props:
            return False
        for k, v in self.ints.items():
            if k in props and props[k] != v:
                return False
        mem = props.get("totalGlobalMem")
        if self.mem_GiB is not None and isinstance(mem, int | float):
            return abs(mem / 2**30 - self.mem_GiB) <= _MEM_TOL * self.mem_GiB
        return True


def load_gpu(path: str | Path) -> GPUSpec:
    """Load one GPU TOML file; errors name the file, the field and the value."""
    return _load(path)[0]


def _load(path: str | Path) -> tuple[GPUSpec, DeviceMatch | None]:
    raw = read_toml(path, "GPU spec")
    spec = _from_dict(raw, where=str(path))
    return spec, _device_match(raw.get("device_match"), spec.name, where=str(path))


def _device_match(raw: Any, gpu: str, *, where: str) -> DeviceMatch | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: [device_match] must be a table")
    allowed = {"names", *_MATCH_INTS, "totalGlobalMem_GiB"}
    bad = set(raw) - allowed
    if bad:
        raise ValueError(f"{where}: unknown [device_match] keys {sorted(bad)}; allowed: {sorted(allowed)}")
    names = raw.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{where}: [device_match] names = {names!r} must be a non-empty list of device names")
    if not isinstance(raw.get("numSms"), int) or isinstance(raw.get("numSms"), bool):
        raise ValueError(f"{where}: [device_match] needs numSms (an integer): a shared name alone identifies nothing")
    ints: dict[str, int] = {}
    for k in _MATCH_INTS:
        if k in raw:
            if not isinstance(raw[k], int) or isinstance(raw[k], bool):
                raise ValueError(f"{where}: [device_match] {k} = {raw[k]!r} is not an integer")
            ints[k] = raw[k]
    mem = raw.get("totalGlobalMem_GiB")
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, int | float) or mem <= 0):
        raise ValueError(f"{where}: [device_match] totalGlobalMem_GiB = {mem!r} must be a number > 0")
    return DeviceMatch(gpu=gpu, names=frozenset(_norm(n) for n in names), ints=ints,
                       mem_GiB=float(mem) if mem is not None else None)


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
    return {name: spec for name, (spec, _) in _catalog_files().items()}


@lru_cache(maxsize=1)
def _catalog_files() -> dict[str, tuple[GPUSpec, DeviceMatch | None]]:
    out: dict[str, tuple[GPUSpec, DeviceMatch | None]] = {}
    for f in sorted(GPU_DIR.glob("*.toml")):
        spec, match = _load(f)
        if spec.name in out:
            raise ValueError(f"{f}: GPU name {spec.name!r} is defined twice in the catalog")
        out[spec.name] = (spec, match)
    return out


@lru_cache(maxsize=1)
def device_matches() -> tuple[DeviceMatch, ...]:
    """The catalog's [device_match] rules (parts whose device name is shared with other parts)."""
    rules = tuple(m for _, m in _catalog_files().values() if m is not None)
    for i, a in enumerate(rules):  # two parts one trace could not tell apart
        for b in rules[i + 1:]:
            if a.names & b.names and a.ints == b.ints and a.mem_GiB == b.mem_GiB:
                raise ValueError(f"[device_match] of {a.gpu} and {b.gpu} are identical: a trace could not tell them apart")
    return rules


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


def get_gpu(name: str | Path | GPUSpec | Mapping[str, Any]) -> GPUSpec:
    """A catalog GPU by canonical name, alias or device string ("NVIDIA H100 80GB HBM3",
    "H100-SXM5-80GB (DGX-H100)"), a user's TOML file path, or one deviceProperties entry of a profiler
    trace (a dict with "name", "numSms", "totalGlobalMem", ...). KeyError with the closest names if unknown.

    A device name that several parts share ("AMD Radeon Graphics") never resolves by itself: only
    deviceProperties that match one part's [device_match] do (CU count, memory, compute capability)."""
    if isinstance(name, GPUSpec):
        return name
    if isinstance(name, Mapping):
        return _from_device(name)
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
    by_parts = _by_parts(s)
    if by_parts is not None:
        return by_parts
    shared = sorted(m.gpu for m in device_matches() if key in m.names)
    if shared:
        raise KeyError(f"{s!r} is a device name several parts share (catalog: {', '.join(shared)}, and others): "
                       f"name the part instead (e.g. --gpu {shared[0]}), or pass the trace's deviceProperties "
                       "(CU count, memory) to get_gpu")
    close = difflib.get_close_matches(key, list(idx), n=4, cutoff=0.5)
    names = sorted({idx[c] for c in close}) or sorted(cat)[:6]
    raise KeyError(f"unknown GPU {s!r}; closest: {', '.join(names)} (see `trainperf hw list`, or pass a .toml file)")



def _by_parts(s: str) -> GPUSpec | None:
    """A name as vendors and papers write it ("H200-141GB", "V100-SXM3-32GB (DGX-2H)", "A100 40GB SXM",
    "MI300X OAM"): the part's model token, then form factor (SXM / PCIe) and memory where the name states
    them. One catalog part must remain, with its memory within 10% of a stated one; else None (unknown)."""
    low = re.sub(r"\(.*?\)", " ", s.lower())
    low = re.sub(r"\b(nvidia|amd|tesla|instinct|geforce|radeon)\b", " ", low)
    words = re.findall(r"[a-z0-9]+", low)
    if not words:
        return None
    mem_m = re.search(r"(\d+)\s*gb", low)
    mem = float(mem_m.group(1)) if mem_m else None
    # every word must be understood: one model token, form factors, memory; anything else (a typo, "NVL",
    # a second model) leaves the name unknown rather than guessed
    known = re.compile(r"sxm\d?|pcie|oam|hbm\d?e?|\d+gb|gb|\d+w|\d+")
    models = [w for w in words if not known.fullmatch(w)]
    if len(models) != 1 or not re.fullmatch(r"[a-z]+\d+[a-z]*", models[0]):
        return None
    model = models[0]
    form = "pcie" if "pcie" in words else "sxm" if any(re.fullmatch(r"sxm\d?", w) for w in words) else None
    cands = [g for g in _catalog().values() if _norm(g.name.split("-")[0]) == model]
    if form:
        cands = [g for g in cands if g.form_factor.lower().startswith(form)] or []
    if mem is not None:
        cands = [g for g in cands if abs(g.hbm_capacity_GB - mem) <= 0.1 * mem]
    elif len(cands) > 1:  # no memory stated: the part the bare model name is an alias of ("A100", "H100")
        cands = [g for g in cands if any(_norm(a) == model for a in g.aliases)]
    return cands[0] if len(cands) == 1 else None


def _from_device(props: Mapping[str, Any]) -> GPUSpec:
    """The GPU of one deviceProperties entry: a [device_match] rule where the name is shared by several parts
    (the match wins over a plain alias of the same name), else the name as get_gpu resolves it."""
    dev = str(props.get("name") or "")
    key = _norm(dev)
    rules = [m for m in device_matches() if key in m.names]
    hits = [m for m in rules if m.matches(props)]
    if len(hits) == 1:
        return _catalog()[hits[0].gpu]
    seen = ", ".join(f"{k}={props[k]}" for k in ("numSms", "computeMajor", "computeMinor") if k in props)
    if "totalGlobalMem" in props and isinstance(props["totalGlobalMem"], int | float):
        seen += f", totalGlobalMem={props['totalGlobalMem'] / 2**30:.1f} GiB"
    if len(hits) > 1:
        raise KeyError(f"device {dev!r} ({seen}) matches {', '.join(m.gpu for m in hits)}; pass --gpu NAME")
    if rules and key not in _alias_index():
        raise KeyError(f"device {dev!r} ({seen or 'no deviceProperties'}) matches no catalog part that uses this "
                       f"name ({', '.join(sorted(m.gpu for m in rules))}); pass --gpu NAME or a .toml file")
    return get_gpu(dev)
