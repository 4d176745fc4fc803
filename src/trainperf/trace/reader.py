"""One Kineto / Chrome-trace JSON file (plain or gzip) -> typed Events columns, without holding the file
or a Python object per event in memory.

The file is read as a stream (source.py: gzip inflated on a read-ahead thread) and the ``traceEvents``
array is cut into chunks of ``CHUNK_BYTES`` at event boundaries; each chunk goes straight into columns
through polars' JSON reader on this thread, and batches of parsed chunks are converted on a second one
(chunk.Pipeline). A cut that lands inside a string or a nested object makes the chunk invalid JSON and
the next candidate boundary is tried, so the split never changes the result. orjson decodes only the
small document header (and chunks polars cannot type). Peak memory: the columnar result (about 300
bytes per event with String texts, 75 per event of the file for the analysis table: docs/trace.md,
Memory), a batch or two in flight (the JSON reader's working memory is about
12x the chunk's text) and the allocator's slack.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.trace import jsontext
from trainperf.trace.chunk import ChunkParser, Pipeline
from trainperf.trace.engine import background
from trainperf.trace.schema import TraceError
from trainperf.trace.source import Source, Text

# 128 KB: the JSON reader's working memory (12x the text) stays small; the fixed cost of converting a chunk
# is paid per batch of _BATCH_BYTES, on the converting thread. (V100 trace, 15 MB: 1 MB chunks peak 10 MB
# higher in the same time; 64 KB ones gain nothing more and cost 10% more CPU.)
CHUNK_BYTES = 1 << 17
# Where one event object may end and the next begin: "}" , "{" with any whitespace between.
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_MAX_TRIES = 2000
# Boundaries tried when checking a candidate end of the array; a boundary inside a string is rare, so a
# few tries suffice, and a wrong candidate (the "]" of a later key) fails all of them.
_TAIL_TRIES = 16
_IN_FLIGHT = 1  # batches parsed and waiting for the converting thread (each holds memory)
_BATCH_BYTES = 1 << 20  # JSON text converted together (chunk.Pipeline)
# Converted batches (~5k events each) are joined into chunks of this many rows as they arrive: a table of
# thousands of small chunks costs every later query per chunk, and joining them all at the end would copy
# the whole table at once.
_CHUNK_ROWS = 1 << 18


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


def _array_bounds(data: bytes, path: Path, origin: Any = None) -> tuple[int, int, dict[str, Any]]:
    """(start, end) of the traceEvents array's inside and the document's other keys (``origin(i)``: the
    file offset of ``data[i]``, for the error message)."""
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
            doc = jsontext.loads(data)
        except orjson.JSONDecodeError:
            raise TraceError(f"{path}: invalid JSON ({_where(data, origin)})") from None
        keys = list(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise TraceError(f"{path}: JSON without 'traceEvents' (keys: {keys}); not a PyTorch profiler trace")
    start = m.end()
    head = data[:start]
    end = len(data)
    for _ in range(_MAX_TRIES):
        end = data.rfind(b"]", start - 1, end)
        if end < 0:
            break
        if not _array_ok(data, start, end):
            continue
        try:
            # (the array replaced by null: a list under the key afterwards is a second traceEvents key)
            meta = jsontext.loads(head[:-1] + b"null" + data[end + 1 :])
        except orjson.JSONDecodeError:
            continue
        if isinstance(meta, dict):
            later = meta.pop("traceEvents", None)
            if isinstance(later, list):  # a second traceEvents key after this array
                meta["_later_events"] = later
            return start, end, meta
    err = jsontext.error(data)  # only on failure: name the first error
    why = "the traceEvents array does not hold event objects" if err is None else _where(data, origin)
    raise TraceError(f"{path}: invalid JSON ({why})")


_WHOLE = 8 << 20  # an array inside up to this size is checked by parsing it whole


def _array_ok(data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] can be the inside of the traceEvents array (not the "]" of deviceProperties
    or INFO written after it): it parses as a list (or lists, between the seams of a duplicated key). Past
    _WHOLE, a cheaper test: its last element is an event (_ends_with_event)."""
    if end - start > _WHOLE:
        return _ends_with_event(data, start, end)
    try:
        return all(isinstance(jsontext.loads(b"[" + part + b"]"), list) for part in _DUP.split(data[start:end]))
    except orjson.JSONDecodeError:
        return False


def _where(buf: bytes, origin: Any, chunk: bool = False) -> str:
    """Where ``buf`` stops being JSON: the file's byte offset (``origin``: the file offset of buf[0], or a
    function of the offset in buf; with ``chunk``, the "[" the reader put in front is not in the file),
    orjson's message and the text around it."""
    e = jsontext.error(buf)
    if e is None:
        return "not a JSON object or array"
    i = e.byte - (1 if chunk else 0)
    at = origin(i) if callable(origin) else (origin or 0) + i
    near = buf[max(0, e.byte - 24) : e.byte + 24].decode("utf-8", "replace")
    return f"{e.msg} at byte {at}, near {near!r}"


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
    for window in (1 << 16, len(tail)):  # (the last 64 KB hold the last few boundaries of any real trace)
        cands = [m.end() - 1 for m in _BOUNDARY.finditer(tail, max(0, len(tail) - window))][::-1][:_TAIL_TRIES]
        if len(cands) == _TAIL_TRIES:
            break
    if end - start <= len(tail):
        cands.append(tail.find(b"{"))
    for first in cands:
        try:
            ev = jsontext.loads(b"[" + tail[first:] + b"]")
        except orjson.JSONDecodeError:
            continue
        return bool(ev) and isinstance(ev[-1], dict) and "ph" in ev[-1]
    return not cands  # one event larger than the window: let the chunk parse decide


Parse = Callable[[bytes], Any]  # a chunk's bytes -> its frame (or a Future of it); None: not valid JSON


# Between the arrays of a traceEvents key written twice (files merged by hand): both arrays are read.
_DUP = re.compile(rb'\]\s*,\s*"traceEvents"\s*:\s*\[')


class Split:
    """Cuts one file's traceEvents text into chunks at event boundaries and parses them (``parse``). A
    candidate cut inside a string or a nested value makes the chunk a valid prefix cut short: the next
    boundary is tried. Any other JSON error is the file's: reported at once with its byte offset (trying
    every later boundary first made one bad byte in a 15 MB trace cost 30 s and point at the wrong place)."""

    def __init__(self, path: Path, chunk_bytes: int, parse: Parse) -> None:
        self.path, self.chunk_bytes, self.parse = path, chunk_bytes, parse
        self.dups = 0  # traceEvents keys after the first

    def next(self, b: bytes | bytearray, lo: int, hi: int, final: bool, origin: int) -> tuple[Any, int]:
        """(frame or None, where the next chunk starts) for the events from ``b[lo]`` (just past a "[" or
        ","); with ``final``, ``b[lo:hi]`` is the rest of the array, else more text may follow. The same
        ``lo`` back: read more. ``origin + i`` is the file offset of ``b[i]``."""
        m = _BOUNDARY.search(b, lo + self.chunk_bytes, hi) if hi - lo > self.chunk_bytes else None
        for _ in range(_MAX_TRIES):
            if m is None and not final:
                return None, lo
            stop = hi if m is None else m.start() + 1
            if not bytes(b[lo:stop]).strip():
                return None, hi
            buf = b"".join((b"[", b[lo:stop], b"]"))
            df = self.parse(buf)
            if df is not None:
                return df, (hi if m is None else m.end() - 1)
            e = jsontext.error(buf)
            if e is None or not e.cut or m is None:
                return self._bad(b, lo, hi, buf, e, origin)
            m = _BOUNDARY.search(b, m.start() + 1, hi)
        if not final:
            return None, lo
        raise TraceError(f"{self.path}: invalid JSON in traceEvents after byte {origin + lo}")

    def _bad(self, b: bytes | bytearray, lo: int, hi: int, buf: bytes, e: jsontext.JsonError | None,
             origin: int) -> tuple[Any, int]:
        """A chunk that is not a cut prefix: the seam of a duplicated traceEvents key (read on after it), or
        the file's own error."""
        q = lo + (e.byte - 1 if e is not None else 0)  # (buf has the "[" in front)
        d = _DUP.search(b, lo, min(hi, q + 64))
        if d is not None and d.start() <= q + 1:
            self.dups += 1
            before = bytes(b[lo : d.start()])
            df = self.parse(b"[" + before + b"]") if before.strip() else None
            if before.strip() and df is None:
                raise TraceError(f"{self.path}: invalid JSON in traceEvents ({_where(b'[' + before + b']', origin + lo, True)})")
            return df, d.end()
        if e is None:
            raise TraceError(f"{self.path}: traceEvents near byte {origin + lo} holds values that are not events")
        raise TraceError(f"{self.path}: invalid JSON in traceEvents ({_where(buf, origin + lo, True)})")


def iter_frames(data: bytes, path: Path, chunk_bytes: int = CHUNK_BYTES, parse: Parse | None = None,
                origin: Any = None) -> tuple[dict[str, Any], Any]:
    """The document's metadata and a generator of typed DataFrames, one chunk of events at a time (``parse``:
    a chunk.ChunkParser, which keeps the file's ts unit across chunks). ``origin(i)``: the file offset of
    ``data[i]`` (for error messages; default i)."""
    start, end, meta = _array_bounds(data, path, origin)
    split = Split(path, chunk_bytes, parse or ChunkParser())

    def gen() -> Any:
        pos = start
        while pos < end:
            df, nxt = split.next(data, pos, end, True, 0 if origin is None else origin(pos) - pos)
            if df is not None:
                yield df
            pos = nxt
        later = meta.pop("_later_events", None)
        if later is not None:
            split.dups += 1
            df = split.parse(orjson.dumps(later)) if later else None
            if df is not None:
                yield df
        meta["_dup_keys"] = split.dups

    return meta, gen()


_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_BARE = re.compile(rb"\s*\[")  # the bare-array form


def stream_frames(path: Path, meta: dict[str, Any], chunk_bytes: int = CHUNK_BYTES, parse: Parse | None = None,
                  ) -> Any:
    """What ``parse`` returns for each chunk of the file's events (typed frames by default),
    decompressing and parsing as it reads: memory holds a few chunks of JSON text at a time, never the
    whole file. ``meta`` receives the document's other keys once the generator is exhausted."""
    parse = parse or ChunkParser()
    with Source(path) as f:
        text, eof = Text(), False

        def more() -> None:
            nonlocal eof
            eof = f.read_into(text, chunk_bytes) == 0

        m = None
        while not eof and len(text) < 16 * chunk_bytes:  # the header, up to the opening "[" of traceEvents
            seen = text.hi
            more()
            m = _KEY.search(text.b, max(text.lo, seen - 64), text.hi)  # (64: a key split between two blocks)
            if m is not None or _BARE.match(text.b, text.lo, text.hi):
                break
        if m is None:  # bare array or no traceEvents key: small or foreign documents, parsed whole
            while not eof:
                more()
            m_all, gen = iter_frames(text.rest(), path, chunk_bytes, parse)
            yield from gen
            meta.update(m_all)
            return
        head = bytes(text.b[text.lo : m.end()])
        text.lo = at_lo = m.end()  # at_lo: the file offset of text.lo
        split = Split(path, chunk_bytes, parse)
        while True:
            while len(text) < 2 * chunk_bytes and not eof:
                more()
            if eof:
                break
            df, nxt = split.next(text.b, text.lo, text.hi, False, at_lo - text.lo)
            if df is not None:
                yield df
            if nxt == text.lo:
                if len(text) > 64 * chunk_bytes:
                    raise TraceError(f"{path}: invalid JSON in traceEvents after byte {at_lo}")
                more()  # a very large event, or the array's end is in the buffer: read on
                continue
            at_lo += nxt - text.lo
            text.lo = nxt
        # the last events, the closing "]" and the keys after it: a small document with the header. Its
        # text after the header starts at the file's byte at_lo.
        n = len(head)
        m_all, gen = iter_frames(head + text.rest(), path, chunk_bytes, parse,
                                 origin=lambda i: i if i < n else at_lo + i - n)
        yield from gen
        meta.update(m_all)
        meta["_dup_keys"] = meta.get("_dup_keys", 0) + split.dups


def read_file(path: Path, chunk_bytes: int = CHUNK_BYTES, time_unit: str | None = None, lean: bool = False,
              ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Every event of one file as typed columns (chunk.TYPED_SCHEMA) with integer-ns ts/dur, converted
    and filtered chunk by chunk (so neither the text nor a second copy of the table exists for the whole
    file), and the document's metadata (``_unit``: the ts unit found; ``_dropped``: events without ph or
    ts; ``_link_parts``: what link.link needs, taken batch by batch; ``_rows``: the events kept, ``_span``:
    their first start and last end). Chunks are parsed on this thread and converted on a second one
    (chunk.Pipeline). ``lean``: only the rows and columns the analyses read (chunk.lean_rows)."""
    meta: dict[str, Any] = {}
    parse = ChunkParser(time_unit, lean)
    frames = _Frames()
    pipe = Pipeline(parse, background(), max(_BATCH_BYTES, chunk_bytes))
    try:
        for _ in stream_frames(path, meta, chunk_bytes, pipe):
            while len(pipe.futures) > _IN_FLIGHT:  # bounded: batches waiting to be converted hold memory
                frames.add(pipe.futures.popleft().result())
        pipe.flush()
        for f in pipe.futures:
            frames.add(f.result())
    finally:  # on an error, drop the batches not yet converted, and let the running one finish
        for f in pipe.futures:
            if not f.cancel():
                f.exception()
    meta["_unit"] = parse.unit or "us"
    if parse.seen == 0:
        raise TraceError(f"{path}: the trace has no events (traceEvents is empty)")
    if parse.dropped + parse.out_of_range == parse.seen:
        raise TraceError(f"{path}: no event has 'ph' and 'ts'; not a Chrome-trace event list")
    meta["_dropped"] = parse.dropped
    if meta.get("_dup_keys"):
        meta["_dup_keys"] += 1  # (arrays after the first, plus the first)
    meta["_out_of_range"] = parse.out_of_range
    meta["_bad_steps"] = sum(int((p[3]["step"].is_null() & p[3]["bad"]).sum()) for p in parse.parts)
    meta["_link_parts"] = parse.parts
    meta["_rows"], meta["_span"] = parse.rows, parse.span
    return frames.table(), meta


class _Frames:
    """Converted batches, joined into chunks of about _CHUNK_ROWS rows as they come."""

    def __init__(self) -> None:
        self.done: list[pl.DataFrame] = []
        self.pending: list[pl.DataFrame] = []
        self.rows = 0

    def add(self, df: pl.DataFrame) -> None:
        self.pending.append(df)
        self.rows += df.height
        if self.rows >= _CHUNK_ROWS:
            self._join()

    def _join(self) -> None:
        if self.pending:
            self.done.append(pl.concat(self.pending, how="vertical", rechunk=True))
            self.pending, self.rows = [], 0

    def table(self) -> pl.DataFrame:
        self._join()
        return pl.concat(self.done, how="vertical", rechunk=False)
