"""One small trace file -> its events as Python dicts with the Events table's columns (schema.py), linked
and stepped exactly as the polars reader does (reader.py, chunk.py, link.py), by orjson alone.

Conservative: anything the polars reader would read differently or refuse (a field of an unexpected
type, a ts written as text, a unit that needs guessing, a duplicated traceEvents key, invalid JSON)
returns None, and the caller takes the polars path, which gives the authoritative answer or error.
"""

from __future__ import annotations

import bisect
import math
import re
import zlib
from pathlib import Path
from typing import Any

from trainperf.trace import common, jsontext

_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_TS_TEXT = re.compile(rb'"ts"\s*:\s*(-?[0-9][0-9.eE+-]*)')
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{0,3}))?")
_INT = re.compile(r"-?[0-9]+")
_EXACT = 2.0**42  # float64 holds 1e-3 (a ns in us) below this (chunk.py)
_LIMIT_US = common.NS_LIMIT / 1e3
_INT_ARGS = {"correlation": "correlation", "External id": "external_id", "stream": "stream", "device": "device",
             "bytes": "bytes", "In msg nelems": "in_nelems", "Out msg nelems": "out_nelems", "Group size": "group_size"}
_STR_ARGS = {"Collective name": "collective", "dtype": "coll_dtype", "Process Group Name": "pg_name"}
_INT32 = ("device", "group_size")


class Fallback(Exception):
    """This file is for the polars reader (the reason is for debugging only)."""


def _bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    out, rest = [], raw
    while rest[:2] == b"\x1f\x8b":  # concatenated gzip members
        z = zlib.decompressobj(31)
        out.append(z.decompress(rest))
        if not z.eof:
            raise Fallback("truncated gzip")
        rest = z.unused_data
    if rest.strip(b"\x00"):
        raise Fallback("trailing bytes after gzip")
    return b"".join(out)


def _str(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise Fallback("a text field that is not text")


def _int(v: Any, int32: bool = False) -> int | None:
    """As polars casts the text of a value to Int64/Int32 (strict=False): out of range -> None."""
    if v is None:
        return None
    if isinstance(v, str):
        if not _INT.fullmatch(v):
            return None
        v = int(v)
    elif isinstance(v, bool) or not isinstance(v, int):
        raise Fallback("an id that is not an integer")
    lim = 2**31 if int32 else 2**63
    return v if -lim <= v < lim else None


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Fallback("a time that is not a number")
    return float(v)


def _ns_float(x: float) -> int:
    """chunk._ns_from_float for microseconds: whole part and fraction apart, each exact in float64."""
    w = math.floor(x)
    return int(w) * 1000 + round((x - w) * 1000)


def _ns_text(t: str) -> int:
    m = _DECIMAL.fullmatch(t)
    if m is None:
        raise Fallback("a ts that is not a plain decimal")
    ns = int(m.group(2)) * 1000 + int((m.group(3) or "").ljust(3, "0"))
    return -ns if m.group(1) else ns


def parse(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(events with idx, ph, cat, name, pid, tid, ts, dur, gpu, stream, device, args fields, shapes, in file
    order; the document's other keys with _unit, _dropped, _out_of_range, _bad_steps). Raises Fallback."""
    data = _bytes(path)
    if len(_KEY.findall(data)) > 1:
        raise Fallback("traceEvents written twice")
    try:
        doc = jsontext.loads(data)
    except Exception as err:
        raise Fallback("invalid JSON") from err
    if isinstance(doc, list):
        raw, meta = doc, {}
    elif isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list):
        raw, meta = doc.pop("traceEvents"), doc
    else:
        raise Fallback("no traceEvents list")
    evs = [e for e in raw if type(e) is dict]
    ts_f = [_num(e.get("ts")) for e in evs]
    if any(abs(x) >= 1e17 for x in ts_f if x is not None):
        raise Fallback("a ts of 18 digits: the unit needs the polars reader's guess")
    texts: list[bytes] | None = None
    if any(abs(x) >= _EXACT for x in ts_f if x is not None):  # float64 lost digits: the text, as chunk.py
        texts = _TS_TEXT.findall(data)
        if len(texts) != sum(x is not None for x in ts_f):
            raise Fallback("ts texts do not align with the events")
    out: list[dict[str, Any]] = []
    dropped = oor = 0
    k = 0
    for e, x in zip(evs, ts_f, strict=True):
        t_txt = None
        if x is not None and texts is not None:
            t_txt = texts[k].decode()
            k += 1
            if float(t_txt) != x:
                raise Fallback("misaligned ts text")
        ph = _str(e.get("ph"))
        dur = _num(e.get("dur"))
        if ph is None or (x is None and ph != "M"):
            dropped += 1
            continue
        if x is None and e.get("cat") is not None:
            raise Fallback("a metadata event with a category and no time")
        if x is not None and (abs(x) >= _LIMIT_US or (dur is not None and dur >= _LIMIT_US)):
            oor += 1
            continue
        out.append(_event(e, ph, None if x is None else (_ns_text(t_txt) if t_txt else _ns_float(x)), dur, len(out)))
    if not evs:
        raise Fallback("no events")
    if not out:
        raise Fallback("every event dropped")
    meta.update(_unit="us", _dropped=dropped, _out_of_range=oor)
    return out, meta


_NO_ARGS = dict.fromkeys([*_INT_ARGS.values(), *_STR_ARGS.values()])


def _event(e: dict[str, Any], ph: str, ts: int | None, dur: float | None, idx: int) -> dict[str, Any]:
    a = e.get("args")
    cat, name = e.get("cat"), e.get("name")
    if (cat is not None and type(cat) is not str) or (name is not None and type(name) is not str):
        raise Fallback("a text field that is not text")
    pid, tid = e.get("pid"), e.get("tid")
    ev: dict[str, Any] = {"idx": idx, "ph": ph, "cat": cat, "name": name,
                          "pid": pid if type(pid) is int and -(2**63) <= pid < 2**63 else _int(pid),
                          "tid": tid if type(tid) is int and -(2**63) <= tid < 2**63 else _int(tid), "ts": ts,
                          "dur": max(0, _ns_float(dur)) if dur is not None else 0, **_NO_ARGS, "shapes": None}
    if a:  # (only the keys present: most events carry a few of the dozen the table keeps)
        if type(a) is not dict:
            raise Fallback("args that are not an object")
        for k, v in a.items():
            c = _INT_ARGS.get(k)
            if c is not None:
                ev[c] = _int(v, c in _INT32)
            elif k in _STR_ARGS:
                ev[_STR_ARGS[k]] = _str(v)
            elif k == "Input Dims" and v:
                ev["shapes"] = _shapes(a)
    elif a is not None and type(a) is not dict:
        raise Fallback("args that are not an object")
    ev["gpu"] = gpu = cat in common.GPU_CATS and ph == "X"
    if gpu:
        if ev["stream"] is None:
            ev["stream"] = ev["tid"]
        p = ev["pid"]
        if ev["device"] is None:
            ev["device"] = p if p is not None and -(2**31) <= p < 2**31 else None
    return ev


def _ints(v: Any) -> bool:
    return type(v) is list and all(type(x) is int and -(2**63) <= x < 2**63 for x in v)


def _strs(v: Any) -> bool:
    return v is None or (type(v) is list and all(type(x) is str for x in v))


def _shapes(a: dict[str, Any]) -> str:
    """The shapes text as both readers write it, for the shapes the profiler writes (per argument a list of
    ints, or of int lists for a tensor list; type and concrete-input strings); anything else is left to
    the polars reader, whose typed read coerces odd values its own way."""
    import orjson

    dims, types, concrete = a["Input Dims"], a.get("Input type"), a.get("Concrete Inputs")
    if not (type(dims) is list and all(_ints(d) or (type(d) is list and all(_ints(x) for x in d)) for d in dims)
            and _strs(types) and _strs(concrete)):
        raise Fallback("shapes the profiler does not write")
    return orjson.dumps([dims, types, concrete, a.get("Input Strides")]).decode()


def link(evs: list[dict[str, Any]], base: int) -> int:
    """Adds category, launch_idx, launch_ts, op_idx and step (link.py); shifts ts by ``base``. Returns the
    number of ProfilerStep spans whose number is beyond int32."""
    from trainperf.trace.classify import kernel_category

    for e in evs:
        if base and e["ts"] is not None:
            e["ts"] += base
    rt: dict[int, dict[str, Any]] = {}
    ops: dict[int, int] = {}
    for e in evs:
        if e["cat"] in common.RUNTIME_CATS and e["correlation"] is not None:
            rt.setdefault(e["correlation"], e)
        if e["cat"] == "cpu_op" and e["external_id"] is not None:
            ops[e["external_id"]] = e["idx"]  # the last cpu_op of each External id
    known = [r for r in rt.values() if r["external_id"] is not None]
    own_id = bool(known) and sum(r["external_id"] == r["correlation"] for r in known) / len(known) > 0.9
    todo = []
    for e in evs:
        e.update(category=None, launch_idx=None, launch_ts=None, op_idx=None)
        if not e["gpu"]:
            continue
        r = rt.get(e["correlation"]) if e["correlation"] is not None else None
        if r is not None:
            e["launch_idx"], e["launch_ts"] = r["idx"], r["ts"]
            if not own_id and r["external_id"] is not None:
                e["op_idx"] = ops.get(r["external_id"])
            if e["op_idx"] is None:
                todo.append(e)
        if e["cat"] in ("gpu_memcpy", "gpu_memset"):
            e["category"] = kernel_category("", "gpu_memcpy").value
        else:
            e["category"] = kernel_category(e["name"]).value if e["name"] is not None else "other"
    _link_by_time(evs, todo)
    return _steps(evs)


def _link_by_time(evs: list[dict[str, Any]], todo: list[dict[str, Any]]) -> None:
    """link._link_by_time: the latest-starting cpu_op on the launch call's thread at or before the call
    (the later in the file among equal starts), if it is still open."""
    if not todo:
        return
    by: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for e in evs:
        if e["cat"] == "cpu_op" and e["ph"] == "X" and e["pid"] is not None and e["tid"] is not None:
            by.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["idx"], e["ts"] + e["dur"]))
    for v in by.values():
        v.sort()
    for g in todo:
        call = evs[g["launch_idx"]]
        if call["pid"] is None or call["tid"] is None:
            continue
        cands = by.get((call["pid"], call["tid"]), [])
        i = bisect.bisect_right(cands, (call["ts"], math.inf, math.inf)) - 1
        if i >= 0 and call["ts"] < cands[i][2]:
            g["op_idx"] = cands[i][1]


def _steps(evs: list[dict[str, Any]]) -> int:
    spans: dict[int, tuple[int, int]] = {}
    bad = 0
    for e in evs:
        name = e["name"]
        if e["ph"] == "X" and name is not None and name.startswith("ProfilerStep#"):
            n = common.step_number(name)
            if n is None:
                bad += common.STEP_NUMBER.search(name) is not None
                continue
            spans.setdefault(n, (e["ts"], e["ts"] + e["dur"]))  # the first span of each number
    order = sorted((s, n, end) for n, (s, end) in spans.items())
    starts = [s for s, _, _ in order]
    for e in evs:
        key = e["launch_ts"] if e["gpu"] and e["launch_ts"] is not None else e["ts"]
        e["step"] = None
        if key is None or not order:
            continue
        i = bisect.bisect_right(starts, key) - 1
        if i >= 0 and key < order[i][2]:
            e["step"] = order[i][1]
    return bad
