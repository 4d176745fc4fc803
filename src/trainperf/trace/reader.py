"""One Kineto / Chrome-trace JSON file (plain or gzip) -> raw Events columns, without holding the whole
Python object tree of a large trace alive.

Peak memory: one chunk being decompressed and parsed (``CHUNK_BYTES`` of JSON and polars' buffers for
it) + the columnar result (~130 bytes per event); the file is read as a stream, never whole. The
``traceEvents`` array is cut into chunks at event boundaries and each chunk is parsed by polars' JSON
reader straight into columns (no Python object per event) before the next; a cut that lands inside a string or nested object
makes the chunk invalid JSON and the next candidate boundary is tried, so the split never changes the
result. orjson decodes the small document header and, in traces recorded with shapes, the chunks that
hold ``Input Dims`` (nested lists polars cannot type).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.trace.schema import TraceError

CHUNK_BYTES = 1 << 20
# Where one event object may end and the next begin: "}" , "{" with any whitespace between.
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_MAX_TRIES = 2000
# Boundaries tried when checking a candidate end of the array; a boundary inside a string is rare, so a
# few tries suffice, and a wrong candidate (the "]" of a later key) fails all of them.
_TAIL_TRIES = 16


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
    cands = [m.end() - 1 for m in _BOUNDARY.finditer(tail)][::-1][:_TAIL_TRIES]
    if end - start <= len(tail):
        cands.append(tail.find(b"{"))
    for first in cands:
        try:
            ev = orjson.loads(b"[" + tail[first:] + b"]")
        except orjson.JSONDecodeError:
            continue
        return bool(ev) and isinstance(ev[-1], dict) and "ph" in ev[-1]
    return not cands  # one event larger than the window: let the chunk parse decide


def _parse_chunk(buf: bytes) -> pl.DataFrame | None:
    """Raw columns of one ``[...]`` chunk of events, or None when ``buf`` is not valid JSON (a cut inside a
    string). polars' Rust JSON reader builds the columns without Python objects; only events whose args
    do not fit the typed schema (rare: args that are not objects) go through orjson and a Python loop."""
    try:
        df = _frame_polars(buf)
    except Exception:
        try:
            evs = orjson.loads(buf)
        except orjson.JSONDecodeError:
            return None
        return _frame_python(evs)
    if b'"Input Dims"' in buf:  # nested shape lists have no fixed polars type: take them from orjson
        evs = orjson.loads(buf)
        if len(evs) != df.height:
            return _frame_python(evs)
        df = df.with_columns(shapes=pl.Series("shapes", [_shapes(e) for e in evs], dtype=pl.String))
    return df


def iter_frames(data: bytes, path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[dict[str, Any], Any]:
    """The document's metadata and a generator of raw-column DataFrames, one chunk of events at a time."""
    start, end, meta = _array_bounds(data, path)

    def gen() -> Any:
        pos = start
        while pos < end:
            if end - pos <= chunk_bytes and not data[pos:end].strip():
                return
            df = None
            cut = end
            if end - pos > chunk_bytes:
                m = _BOUNDARY.search(data, pos + chunk_bytes, end)
                tries = 0
                while m is not None and tries < _MAX_TRIES:
                    df = _parse_chunk(b"[" + data[pos : m.start() + 1] + b"]")
                    if df is not None:
                        cut = m.start() + 1
                        break
                    m = _BOUNDARY.search(data, m.start() + 1, end)
                    tries += 1
            if df is None:
                cut = end
                df = _parse_chunk(b"[" + data[pos:end] + b"]")
                if df is None:
                    try:
                        orjson.loads(b"[" + data[pos:end] + b"]")
                    except orjson.JSONDecodeError as e:
                        raise TraceError(f"{path}: invalid JSON in traceEvents near byte {pos} ({e})") from None
            yield df
            pos = cut
            nxt = data.find(b",", pos, end)  # skip the comma between this chunk and the next
            pos = end if nxt < 0 else nxt + 1

    return meta, gen()


_S = pl.String
# What the reader takes from each event. Everything is read as text (numbers keep their digits, so times
# convert to integer ns exactly) and cast afterwards; fields absent from the schema are skipped unparsed.
_ARGS = {"correlation": "correlation", "External id": "external_id", "stream": "stream", "device": "device",
         "bytes": "bytes", "Collective name": "collective", "In msg nelems": "in_nelems",
         "Out msg nelems": "out_nelems", "Group size": "group_size", "dtype": "coll_dtype",
         "Process Group Name": "pg_name"}
_JSON_SCHEMA: dict[str, Any] = {"ph": _S, "cat": _S, "name": _S, "pid": _S, "tid": _S, "ts": _S, "dur": _S, "id": _S,
                "args": pl.Struct(dict.fromkeys(_ARGS, _S))}
RAW_SCHEMA: dict[str, Any] = {
    "ph": _S, "cat": _S, "name": _S, "pid": pl.Int64, "tid": pl.Int64, "ts": _S, "dur": _S,
    "stream": pl.Int64, "device": pl.Int32, "correlation": pl.Int64, "external_id": pl.Int64, "flow_id": pl.Int64,
    "bytes": pl.Int64, "collective": _S, "in_nelems": pl.Int64, "out_nelems": pl.Int64, "group_size": pl.Int32,
    "coll_dtype": _S, "pg_name": _S, "shapes": _S,
}


def _frame_polars(buf: bytes) -> pl.DataFrame:
    df = pl.read_json(io.BytesIO(buf), schema=_JSON_SCHEMA)
    a = pl.col("args")
    return df.select(
        "ph", "cat", "name", "pid", "tid", "ts", "dur", *(a.struct.field(k).alias(v) for k, v in _ARGS.items()),
        flow_id="id", shapes=pl.lit(None, _S),
    ).cast(RAW_SCHEMA, strict=False).select(list(RAW_SCHEMA))  # type: ignore[arg-type]


def _shapes(e: Any) -> str | None:
    a = e.get("args") if type(e) is dict else None
    if type(a) is not dict or not a.get("Input Dims"):
        return None
    return orjson.dumps([a["Input Dims"], a.get("Input type"), a.get("Concrete Inputs")]).decode()


def _text(v: Any) -> str | None:
    return None if v is None or isinstance(v, dict | list | bool) else str(v)


def _frame_python(events: list[Any]) -> pl.DataFrame:
    """The same columns as _frame_polars from decoded events (the fallback path)."""
    rows = []
    for e in events:
        if type(e) is not dict:
            continue
        a = e.get("args")
        a = a if type(a) is dict else {}
        rows.append({"ph": _text(e.get("ph")), "cat": _text(e.get("cat")), "name": _text(e.get("name")),
                     "pid": _text(e.get("pid")), "tid": _text(e.get("tid")), "ts": _text(e.get("ts")),
                     "dur": _text(e.get("dur")), "flow_id": _text(e.get("id")), "shapes": _shapes(e),
                     **{v: _text(a.get(k)) for k, v in _ARGS.items()}})
    df = pl.DataFrame(rows, schema=dict.fromkeys(RAW_SCHEMA, _S))
    return df.cast(RAW_SCHEMA, strict=False)  # type: ignore[arg-type]


def _ns(col: str, digits: int) -> pl.Expr:
    """A decimal number written as text -> integer units of 10**-digits of it, exactly (rounding half up
    on the next digit); exponent notation goes through float."""
    s = pl.col(col)
    parts = s.str.split_exact(".", 1)
    ip_txt = parts.struct.field("field_0")
    fr = parts.struct.field("field_1").fill_null("")
    ip = ip_txt.cast(pl.Int64, strict=False)
    sign = pl.when(ip_txt.str.starts_with("-")).then(-1).otherwise(1)
    exact = ip * 10**digits
    if digits:
        exact = exact + sign * (fr + "0" * digits).str.slice(0, digits).cast(pl.Int64, strict=False)
    exact = exact + sign * (fr.str.slice(digits, 1) >= "5").cast(pl.Int64)
    via_float = (s.cast(pl.Float64, strict=False) * 10**digits).round().cast(pl.Int64)
    return pl.when(s.str.contains("[eE]")).then(via_float).otherwise(exact)


def _unit_of(frame: pl.DataFrame) -> str:
    """Chrome-trace ts are microseconds; a ts of 18+ integer digits (>= 1e17) cannot be microseconds of
    any plausible clock: such files wrote nanoseconds."""
    digits = frame.select(pl.col("ts").str.split_exact(".", 1).struct.field("field_0").str.len_chars().max()).item()
    return "ns" if (digits or 0) >= 18 else "us"


_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')


def _open(path: Path) -> Any:
    try:
        f = path.open("rb")
    except IsADirectoryError:
        raise TraceError(f"{path}: is a folder, expected a trace file") from None
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")
    f.seek(0)
    return f


def stream_frames(path: Path, meta: dict[str, Any], chunk_bytes: int = CHUNK_BYTES) -> Any:
    """Raw-column frames of the file's events, decompressing and parsing as it reads: memory holds one
    chunk of JSON text at a time, never the whole file. ``meta`` receives the document's other keys
    once the generator is exhausted."""
    with _open(path) as f:
        buf, eof, offset = b"", False, 0

        def more() -> None:
            nonlocal buf, eof
            try:
                blk = f.read(chunk_bytes)
            except (EOFError, OSError, zlib.error) as e:
                raise TraceError(f"{path}: truncated or corrupt gzip ({e}); re-copy or re-export the trace") from None
            eof = not blk
            buf += blk

        m = None
        while not eof and len(buf) < 16 * chunk_bytes:  # the header, up to the opening "[" of traceEvents
            more()
            m = _KEY.search(buf, max(0, len(buf) - 2 * chunk_bytes))
            if m is not None or buf.lstrip()[:1] == b"[":
                break
        if m is None:  # bare array or no traceEvents key: small or foreign documents, parsed whole
            rest = [buf]
            while not eof:
                buf = b""
                more()
                rest.append(buf)
            m_all, gen = iter_frames(b"".join(rest), path, chunk_bytes)
            yield from gen
            meta.update(m_all)
            return
        head, buf = buf[: m.end()], buf[m.end() :]
        while True:
            while len(buf) < 2 * chunk_bytes and not eof:
                more()
            if eof:
                break
            cut = None
            for tries, b in enumerate(_BOUNDARY.finditer(buf, chunk_bytes)):
                df = _parse_chunk(b"[" + buf[: b.start() + 1] + b"]")
                if df is not None:
                    yield df
                    cut = b.end() - 1
                    break
                if tries >= _MAX_TRIES:
                    break
            if cut is None:
                if len(buf) > 64 * chunk_bytes:
                    raise TraceError(f"{path}: invalid JSON in traceEvents after byte {offset + len(head)}")
                more()  # a very large event, or the array's end is in the buffer: read on
                continue
            offset += cut
            buf = buf[cut:]
        # the last events, the closing "]" and the keys after it: a small document with the header
        m_all, gen = iter_frames(head + buf, path, chunk_bytes)
        yield from gen
        meta.update(m_all)


def read_file(path: Path, chunk_bytes: int = CHUNK_BYTES, time_unit: str | None = None,
              ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Every event of one file as raw columns with integer-ns ts/dur (converted and filtered chunk by
    chunk, so neither the text nor a second copy of the table exists for the whole file), and the
    document's metadata (``_unit``: the ts unit found; ``_dropped``: events without ph or ts)."""
    meta: dict[str, Any] = {}
    frames = []
    unit = time_unit
    seen = dropped = 0
    bad = pl.col("ph").is_null() | (pl.col("ts").is_null() & (pl.col("ph") != "M"))
    for f in stream_frames(path, meta, chunk_bytes):
        unit = unit or _unit_of(f)
        d = 0 if unit == "ns" else 3
        f = f.with_columns(ts=_ns("ts", d), dur=_ns("dur", d).fill_null(0).clip(lower_bound=0))
        keep = f.filter(~bad)
        seen, dropped = seen + f.height, dropped + f.height - keep.height
        frames.append(keep)
    meta["_unit"] = unit or "us"
    if seen == 0:
        raise TraceError(f"{path}: the trace has no events (traceEvents is empty)")
    if dropped == seen:
        raise TraceError(f"{path}: no event has 'ph' and 'ts'; not a Chrome-trace event list")
    meta["_dropped"] = dropped
    return pl.concat(frames, how="vertical", rechunk=False), meta
