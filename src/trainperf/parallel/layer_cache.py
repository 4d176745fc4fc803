"""Persistent cache of priced per-layer op times (speed only: the numbers are the ones pricing gives).

Pricing one rank's per-layer op table on a GPU (parallel.estimate._layer_times: build the table with
polars, run model.op_times) takes ~4 ms plus ~0.2 s of numpy + polars imports; everything else of a plan
is arithmetic. So `trainperf plan` keeps what it priced in one JSON file per code version and reads it
back next time, and a repeated layout answers without importing polars at all.

Keys: the architecture, the per-rank shapes (ShardKey), the layer kind, the full GPU spec and the clock
mode, hashed. The file name carries a fingerprint of everything pricing reads: the sources of model/,
costs/, parallel/opgen.py and optime.py, capture/schema.py, the hardware efficiency code and data, and the
packaged calibration; any edit to them starts a new file, so a stale entry is never read.
``TRAINPERF_CACHE_DIR`` moves the folder (default ``$XDG_CACHE_HOME/trainperf`` or ``~/.cache/trainperf``);
``TRAINPERF_CACHE=0`` turns the file off. Neither changes a number.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]
_SOURCES = ("model", "costs", "parallel/opgen.py", "parallel/optime.py", "capture/schema.py",
            "hardware/efficiency.py", "hardware/spec.py", "hardware/data/efficiency.toml", "model/data")
MAX_ENTRIES = 200_000
"""Beyond this the file starts over (a few tens of MB of JSON)."""

_mem: dict[str, list[object]] | None = None
_new: dict[str, list[object]] = {}


@lru_cache(maxsize=1)
def fingerprint() -> str:
    h = hashlib.sha1()
    for rel in _SOURCES:
        p = _PKG / rel
        files = sorted(q for q in p.rglob("*") if q.suffix in (".py", ".toml")) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(_PKG)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _path() -> Path | None:
    if os.environ.get("TRAINPERF_CACHE", "1") == "0":
        return None
    base = os.environ.get("TRAINPERF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "trainperf")
    return Path(base) / f"layer-times-{fingerprint()}.json"


def key(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def _load() -> dict[str, list[object]]:
    global _mem
    if _mem is None:
        _mem = {}
        p = _path()
        if p is not None and p.is_file():
            try:
                data = json.loads(p.read_text())
                _mem = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                _mem = {}
    return _mem


def get(k: str) -> list[object] | None:
    return _load().get(k)


def put(k: str, value: list[object]) -> None:
    _load()[k] = value
    if not _new:
        atexit.register(flush)
    _new[k] = value


def flush() -> None:
    """Merge this process's new entries into the file (atomic rename; errors leave the file as it was)."""
    p = _path()
    if p is None or not _new:
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = json.loads(p.read_text()) if p.is_file() else {}
        except ValueError:
            old = {}
        merged = old if isinstance(old, dict) and len(old) < MAX_ENTRIES else {}
        merged.update(_new)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged))
        os.replace(tmp, p)
        _new.clear()
    except OSError:
        pass  # a read-only or full cache folder only costs speed
