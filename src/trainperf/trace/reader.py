"""One Kineto / Chrome-trace JSON file (plain or gzip) -> raw Events columns, without holding the whole
Python object tree of a large trace alive.

Peak memory: the decompressed bytes (1x the JSON size) + the Python objects of one chunk of events
(``CHUNK_BYTES`` of JSON, about 10x that in objects) + the columnar result (~100 bytes per event). The
``traceEvents`` array is cut into chunks at event boundaries and each chunk is decoded with orjson and
turned into columns before the next is decoded; a cut that lands inside a string or nested object makes
the chunk invalid JSON and the next candidate boundary is tried, so the split never changes the result.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.trace.schema import TraceError

CHUNK_BYTES = 32 << 20
# Where one event object may end and the next begin: "}" , "{" with any whitespace between.
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_MAX_TRIES = 2000


def read_bytes(path: Path) -> bytes:
    """The file's JSON bytes; gzip is detected by magic number, not by name."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise TraceError(f"{path}: is a folder, expected a trace file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise TraceError(f"{path}: truncated or corrupt gzip ({e}); re-copy or re-export the trace") from None
    return raw


def _array_bounds(data: bytes, path: Path) -> tuple[int, int, dict[str, Any]]:
    """(start, end) of the traceEvents array's inside and the document's other keys."""
    i = 0
    while i < len(data) and data[i] in b" \t\r\n":
        i += 1
    if i == len(data):
        raise TraceError(f"{path}: empty file, expected a PyTorch profiler trace (JSON with traceEvents)")
    if data[i : i + 1] == b"[":  # bare-array form of the Chrome trace format
        j = data.rstrip().rfind(b"]")
        if j < 0:
            raise TraceError(f"{path}: invalid JSON (no closing ']'; truncated?)")
        return i + 1, j, {}
    if data[i : i + 1] != b"{":
        raise TraceError(f"{path}: not JSON (starts with {data[i:i + 20]!r}); expected a PyTorch profiler trace")
    key = re.compile(rb'"traceEvents"\s*:\s*\[')
    m = key.search(data)
    if m is None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise TraceError(f"{path}: invalid JSON ({e})") from None
        keys = list(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise TraceError(f"{path}: JSON without 'traceEvents' (keys: {keys}); not a PyTorch profiler trace")
    start = m.end()
    head = data[:start]
    end = len(data)
    for _ in range(_MAX_TRIES):
        end = data.rfind(b"]", start - 1, end)
        if end < 0:
            break
        if not _ends_with_event(data, start, end):
            continue
        try:
            meta = orjson.loads(head + b"]" + data[end + 1 :])
        except orjson.JSONDecodeError:
            continue
        if isinstance(meta, dict):
            meta.pop("traceEvents", None)
            return start, end, meta
    try:  # only on failure: let the parser name the first error
        orjson.loads(data)
        why = "the traceEvents array does not hold event objects"
    except orjson.JSONDecodeError as e:
        why = str(e)
    raise TraceError(f"{path}: invalid JSON ({why})")


def _ends_with_event(data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] can be the inside of the traceEvents array: empty, or its last element is
    an event object (has "ph"). Rules out the "]" of deviceProperties or INFO written after the array."""
    tail = data[max(start, end - (4 << 20)) : end]
    if not tail.strip():
        return True
    if not tail.rstrip().endswith(b"}"):
        return False
    # the last element starts after the last event boundary that yields one valid object (a boundary
    # inside a string fails to parse: try earlier ones)
    cands = [m.end() - 1 for m in _BOUNDARY.finditer(tail)][::-1][:_MAX_TRIES]
    if end - start <= len(tail):
        cands.append(tail.find(b"{"))
    for first in cands:
        try:
            ev = orjson.loads(b"[" + tail[first:] + b"]")
        except orjson.JSONDecodeError:
            continue
        return len(ev) == 1 and isinstance(ev[0], dict) and "ph" in ev[0]
    return not cands  # one event larger than the window: let the chunk parse decide


def iter_chunks(data: bytes, path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[dict[str, Any], Any]:
    """The document's metadata and a generator of lists of event dicts, one chunk at a time."""
    start, end, meta = _array_bounds(data, path)

    def gen() -> Any:
        pos = start
        while pos < end:
            if data[pos:end].strip() == b"":
                return
            cut = end
            if end - pos > chunk_bytes:
                cut = -1
                m = _BOUNDARY.search(data, pos + chunk_bytes, end)
                tries = 0
                while m is not None and tries < _MAX_TRIES:
                    try:
                        evs = orjson.loads(b"[" + data[pos : m.start() + 1] + b"]")
                        cut = m.start() + 1
                        break
                    except orjson.JSONDecodeError:
                        m = _BOUNDARY.search(data, m.start() + 1, end)
                        tries += 1
                if cut < 0:
                    cut = end
            if cut == end:
                try:
                    evs = orjson.loads(b"[" + data[pos:end] + b"]")
                except orjson.JSONDecodeError as e:
                    raise TraceError(f"{path}: invalid JSON in traceEvents near byte {pos} ({e})") from None
            yield evs
            # skip the comma between this chunk and the next
            pos = cut
            nxt = data.find(b",", pos, end)
            pos = end if nxt < 0 else nxt + 1

    return meta, gen()


def _num(v: Any) -> float | None:
    if type(v) is float or type(v) is int:
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _int(v: Any) -> int | None:
    if type(v) is int:
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


_RAW_SCHEMA: dict[str, Any] = {
    "ph": pl.String, "cat": pl.String, "name": pl.String, "pid": pl.Int64, "tid": pl.Int64,
    "ts_us": pl.Float64, "ts_int": pl.Int64, "dur_us": pl.Float64, "stream": pl.Int64, "device": pl.Int32,
    "correlation": pl.Int64, "external_id": pl.Int64, "flow_id": pl.Int64, "bytes": pl.Int64,
    "collective": pl.String, "in_nelems": pl.Int64, "out_nelems": pl.Int64, "group_size": pl.Int32,
    "coll_dtype": pl.String, "pg_name": pl.String, "shapes": pl.String,
}


def columns_of(events: list[Any]) -> pl.DataFrame:
    """One pass over a chunk of event dicts -> a DataFrame of the raw columns (times still in us)."""
    cols: dict[str, list[Any]] = {k: [] for k in _RAW_SCHEMA}
    ph, cat, name, pid, tid = cols["ph"], cols["cat"], cols["name"], cols["pid"], cols["tid"]
    ts, dur, stream, device, corr = cols["ts_us"], cols["dur_us"], cols["stream"], cols["device"], cols["correlation"]
    tsi = cols["ts_int"]
    ext, fid, nbytes, coll, inn = cols["external_id"], cols["flow_id"], cols["bytes"], cols["collective"], cols["in_nelems"]
    outn, gsz, cdt, pgn, shp = cols["out_nelems"], cols["group_size"], cols["coll_dtype"], cols["pg_name"], cols["shapes"]
    for e in events:
        if type(e) is not dict:
            continue
        g = e.get
        ph.append(g("ph"))
        cat.append(g("cat"))
        n = g("name")
        name.append(n if type(n) is str else None)
        pid.append(_int(g("pid")))
        tid.append(_int(g("tid")))
        t = g("ts")
        # integers stay exact (epoch nanoseconds exceed float64's 2**53); fractions go through float
        if type(t) is int:
            tsi.append(t)
            ts.append(None)
        else:
            tsi.append(None)
            ts.append(t if type(t) is float else _num(t))
        d = g("dur")
        dur.append(d if type(d) is float else (_num(d) or 0.0))
        fid.append(_int(g("id")))
        a = g("args")
        if type(a) is dict and a:
            ga = a.get
            stream.append(_int(ga("stream")))
            device.append(_int(ga("device")))
            corr.append(_int(ga("correlation")))
            ext.append(_int(ga("External id")))
            nbytes.append(_int(ga("bytes")))
            c = ga("Collective name")
            if c is not None:
                coll.append(str(c))
                inn.append(_int(ga("In msg nelems")))
                outn.append(_int(ga("Out msg nelems")))
                gsz.append(_int(ga("Group size")))
                cdt.append(ga("dtype"))
                pgn.append(ga("Process Group Name"))
            else:
                coll.append(None), inn.append(None), outn.append(None), gsz.append(None), cdt.append(None)
                pgn.append(None)
            dims = ga("Input Dims")
            shp.append(orjson.dumps([dims, ga("Input type"), ga("Concrete Inputs")]).decode() if dims else None)
        else:
            for col in (stream, device, corr, ext, nbytes, coll, inn, outn, gsz, cdt, pgn, shp):
                col.append(None)
    return pl.DataFrame(cols, schema=_RAW_SCHEMA, strict=False)


def read_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Raw columns of every event in one file, and the document's metadata (deviceProperties, ...)."""
    data = read_bytes(path)
    meta, chunks = iter_chunks(data, path, chunk_bytes)
    frames = [columns_of(evs) for evs in chunks]
    del data
    if not frames or sum(f.height for f in frames) == 0:
        raise TraceError(f"{path}: the trace has no events (traceEvents is empty)")
    df = pl.concat(frames, how="vertical", rechunk=True)
    no_ts = pl.col("ts_us").is_null() & pl.col("ts_int").is_null()
    bad = df.filter(pl.col("ph").is_null() | (no_ts & (pl.col("ph") != "M")))
    if bad.height == df.height:
        raise TraceError(f"{path}: no event has 'ph' and 'ts'; not a Chrome-trace event list")
    meta["_dropped"] = bad.height
    return df.filter(~(pl.col("ph").is_null() | (no_ts & (pl.col("ph") != "M")))), meta
