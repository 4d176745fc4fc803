"""Chunks of trace events (JSON bytes) -> typed Events columns, times in integer ns.

polars' Rust JSON reader builds the columns without a Python object per event; only chunks it cannot type
(args that are not objects, a ts written as a string) go through orjson and a Python loop. Parsed chunks
are converted in batches (casts, integer ns, the rows linking needs) by a few polars queries each: their
fixed cost (0.1-0.5 ms per query) paid per small chunk would rival the parse itself.

Times stay exact. The JSON reader parses numbers as float64, which holds a microsecond value with three
decimals only below 2**42 us (51 days) and integers only below 2**53: Kineto's epoch-scale ts with
nanosecond digits (1712195495519695.812) come out 0.25 us off, epoch ns integers up to 256 ns off. For
such files the ts *text* is taken from the bytes as well (one regex pass, in Rust), aligned to the rows,
checked against the float values, and converted digit by digit.
"""

from __future__ import annotations

import re
from collections import deque
from concurrent.futures import Executor, Future
from functools import lru_cache
from typing import Any

import orjson
import polars as pl

from trainperf.trace import common, jsontext
from trainperf.trace.engine import ENGINE
from trainperf.trace.link import link_parts
from trainperf.trace.schema import ANALYSIS_SCHEMA, FLOW_PHASES, GPU_CATS

_S = pl.String
_F = pl.Float64
# What the reader takes from each event; fields absent from the schema are skipped unparsed. ts and dur are
# read as numbers (formatting each number back to text costs a quarter of the parse), the rest as text and
# cast afterwards (pid/tid may be labels, args may hold ids as strings).
_ARGS = {"correlation": "correlation", "External id": "external_id", "stream": "stream", "device": "device",
         "bytes": "bytes", "Collective name": "collective", "In msg nelems": "in_nelems",
         "Out msg nelems": "out_nelems", "Group size": "group_size", "dtype": "coll_dtype",
         "Process Group Name": "pg_name"}
_JSON_SCHEMA: dict[str, Any] = {"ph": _S, "cat": _S, "name": _S, "pid": _S, "tid": _S, "ts": _F, "dur": _F, "id": _S,
                                "args": pl.Struct(dict.fromkeys(_ARGS, _S))}
# Raw chunks are _JSON_SCHEMA plus, where present, shapes (JSON text) and ts_text (ts as the file wrote it).
_RAW_SCHEMA: dict[str, Any] = {**_JSON_SCHEMA, "shapes": _S, "ts_text": _S}
# The typed columns of one file, in the order the chunk query produces them.
# (low-cardinality texts as Categorical, cast here batch by batch: schema.py says why)
_C = pl.Categorical
_ARG_TYPES: dict[str, Any] = {"correlation": pl.Int64, "external_id": pl.Int64, "stream": pl.Int64, "device": pl.Int32,
                              "bytes": pl.Int64, "collective": _C, "in_nelems": pl.Int64, "out_nelems": pl.Int64,
                              "group_size": pl.Int32, "coll_dtype": _C, "pg_name": _C}
TYPED_SCHEMA: dict[str, Any] = {"ph": _C, "cat": _C, "name": _S, "pid": pl.Int64, "tid": pl.Int64, "flow_id": pl.Int64,
                                "ts": pl.Int64, "dur": pl.Int64, **_ARG_TYPES, "shapes": _S, "gpu": pl.Boolean}
# args' fields cast and renamed in one struct cast (one expression per field costs 40 us each per chunk)
_ARGS_TYPED = pl.Struct({k: _ARG_TYPES[v] for k, v in _ARGS.items()})

# float64 resolves 1e-3 (a ns in us) below 2**42 and every integer below 2**53.
_EXACT_FRACTION = float(2**42)
_EXACT_INTEGER = float(2**53)
# A chunk with this few large ts takes their text anyway: a handful of fractional values could all happen to
# round to whole floats and hide that the file has fractions.
_FEW = 64
# A ts value's text: the key, the colon and whitespace (stripped afterwards), the number.
_TS_TEXT = r'"ts"\s*:\s*-?[0-9][0-9.eE+-]*'
_TS_PREFIX = '"ts: \t\r\n'
BAD = pl.col("ph").is_null() | (pl.col("ts").is_null() & (pl.col("ph") != "M"))
# ts and dur stay within +-2**62 ns (146 years), so that ts + dur and the clock offsets added later never
# wrap int64 (a wrapped time reads as a negative window); beyond it an event's times are corrupt.
NS_LIMIT = float(common.NS_LIMIT)


class ChunkParser:
    """Parses the chunks of one file in order. State: the ts unit (from the first chunk unless given) and
    whether ts need their text (switched on by the first chunk whose float values may have lost digits);
    ``seen`` and ``dropped`` count events and those without ph or ts; ``span``: the first start and last
    end over every event kept (before ``lean`` leaves out flows). With ``lean``, each converted batch
    keeps only what the analyses read (schema.ANALYSIS_SCHEMA, plus device for the RankInfo)."""

    def __init__(self, time_unit: str | None = None, lean: bool = False) -> None:
        self.unit = time_unit
        self.lean = lean
        self.span: tuple[int | None, int | None] = (None, None)
        self.exact = False
        self.seen = self.dropped = self.out_of_range = 0
        self.typed_shapes = True  # until a chunk's Input Dims nest deeper than polars' typed read allows
        self.rows = 0  # rows converted so far: the file's row number (idx) of the next one
        self.parts: list[list[pl.DataFrame]] = []  # link.link_parts of each converted batch

    def __call__(self, buf: bytes) -> pl.DataFrame | None:
        """Typed columns of one ``[...]`` chunk, or None when ``buf`` is not valid JSON (a cut inside a
        string: the caller tries the next boundary)."""
        raw = self.parse(buf)
        return None if raw is None else self.finish(raw, buf)

    def parse(self, buf: bytes) -> pl.DataFrame | None:
        """The raw columns of a chunk (parse_raw), trying polars' typed read of the shapes first."""
        if _HUGE.search(buf):
            return _parse_huge(buf)
        if not (self.typed_shapes and b'"Input Dims"' in buf):
            return parse_raw(buf)
        raw = _frame_shapes(buf)
        if raw is not None:
            return raw
        raw = parse_raw(buf)
        if raw is not None:  # valid JSON whose shapes nest deeper: the file's next chunks go to orjson
            self.typed_shapes = False
        return raw

    def finish(self, raw: pl.DataFrame, buf: bytes | list[bytes]) -> pl.DataFrame:
        """The typed columns of parsed chunks (``buf``: their bytes, for the ts texts)."""
        self.unit = self.unit or unit_of(raw)
        if self.exact:
            raw = with_ts_text(raw, buf)
        out, lossy, oor = typed(raw, self.unit, check=not self.exact)
        if lossy:
            self.exact = True
            out, _, oor = typed(with_ts_text(raw, buf), self.unit)
        self.seen += raw.height
        self.dropped += raw.height - out.height - oor
        self.out_of_range += oor
        if self.rows + out.height > common.INT32_MAX:
            raise ValueError("more than 2**31-1 events in one file (idx is Int32); split the trace")
        out = out.with_row_index("idx", offset=self.rows).with_columns(pl.col("idx").cast(pl.Int32))
        self.parts.append(link_parts(out))
        self.rows += out.height
        self._span(out)
        return lean_rows(out) if self.lean else out

    def _span(self, out: pl.DataFrame) -> None:
        lo, hi = out.select(lo=pl.col("ts").min(), hi=(pl.col("ts") + pl.col("dur")).max()).row(0)
        (a, b) = self.span
        self.span = (lo if a is None or (lo is not None and lo < a) else a,
                     hi if b is None or (hi is not None and hi > b) else b)

    def finish_batch(self, raws: list[pl.DataFrame], bufs: list[bytes]) -> pl.DataFrame:
        """finish() of several chunks at once."""
        # (diagonal: chunks with and without shapes or ts texts; the columns are the same otherwise)
        raw = raws[0] if len(raws) == 1 else pl.concat(raws, how="diagonal", rechunk=False)
        return self.finish(raw, bufs)


class Pipeline:
    """A ChunkParser split over two threads: the calling thread parses each chunk (polars' JSON reader
    holds the GIL) and one worker converts them in order (typed() and the ts texts are polars queries,
    which release it), so the two overlap on two cores. Chunks are parsed small (the JSON reader's
    working memory is 12x the text) and converted in batches of ``batch_bytes`` (a query's fixed cost,
    paid once per batch, is most of a small chunk's conversion). A call returns True for a parsed chunk
    and None for invalid JSON (as ChunkParser); ``futures`` holds the converted batches in order, and
    ``flush()`` sends the last one."""

    def __init__(self, parser: ChunkParser, pool: Executor, batch_bytes: int) -> None:
        self.parser, self.pool, self.batch_bytes = parser, pool, batch_bytes
        self.futures: deque[Future[pl.DataFrame]] = deque()
        self.raws: list[pl.DataFrame] = []
        self.bufs: list[bytes] = []
        self.size = 0

    def __call__(self, buf: bytes) -> bool | None:
        raw = self.parser.parse(buf)
        if raw is None:
            return None
        self.raws.append(raw)
        self.bufs.append(buf)
        self.size += len(buf)
        if self.size >= self.batch_bytes:
            self.flush()
        return True

    def flush(self) -> None:
        if self.raws:
            self.futures.append(self.pool.submit(self.parser.finish_batch, self.raws, self.bufs))
            self.raws, self.bufs, self.size = [], [], 0


# A ts or dur written with 20 or more digits is beyond 2**64: polars' JSON reader wraps such integers
# (18446744073709551616 comes out as 8446744073709551616) and orjson refuses them, so those chunks go
# through the json module, whose integers have no limit (then NS_LIMIT drops the event).
_HUGE = re.compile(rb'"(?:ts|dur)"\s*:\s*-?[0-9]{20}')


def _parse_huge(buf: bytes) -> pl.DataFrame | None:
    import json

    try:
        evs = json.loads(buf)
    except (ValueError, RecursionError):
        return None
    return _frame_python(evs) if isinstance(evs, list) else None


def parse_raw(buf: bytes) -> pl.DataFrame | None:
    """Raw columns of one chunk (_JSON_SCHEMA, + shapes), or None when ``buf`` is not valid JSON."""
    try:
        df = pl.read_json(buf, schema=_JSON_SCHEMA)
    except Exception:
        try:
            evs = jsontext.loads(buf)
        except orjson.JSONDecodeError:
            return None
        return _frame_python(evs) if isinstance(evs, list) else None
    if b'"Input Dims"' in buf:  # nested shape lists have no fixed polars type: take them from orjson
        evs = jsontext.loads(buf)
        if len(evs) != df.height:
            return _frame_python(evs)
        df = df.with_columns(shapes=pl.Series("shapes", [_shapes(e) for e in evs], dtype=_S))
    return df


# Shapes read by polars, for the traces whose Input Dims are lists of int lists (one tensor per argument;
# a list-of-tensors argument nests one level deeper and sends the chunk to orjson).
_SHAPE_ARGS: dict[str, Any] = {"Input Dims": pl.List(pl.List(pl.Int64)), "Input type": pl.List(_S),
                               "Concrete Inputs": pl.List(_S), "Input Strides": pl.List(pl.List(pl.Int64))}
_SHAPES_SCHEMA: dict[str, Any] = {**_JSON_SCHEMA, "args": pl.Struct({**dict.fromkeys(_ARGS, _S), **_SHAPE_ARGS})}


def _json(e: pl.Expr) -> pl.Expr:
    """A value's compact JSON text (serde_json, as orjson writes it): encoded as a one-field struct
    ``{"x":...}`` and unwrapped."""
    return pl.struct(e.alias("x")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def _frame_shapes(buf: bytes) -> pl.DataFrame | None:
    """Raw columns with shapes (the JSON text [Input Dims, Input type, Concrete Inputs, Input Strides], as _shapes writes
    it) by polars alone, or None when this chunk's values do not fit the typed schema."""
    try:
        df = pl.read_json(buf, schema=_SHAPES_SCHEMA)
    except Exception:
        return None
    a = pl.col("args")
    dims = a.struct.field("Input Dims")
    shapes = pl.when(dims.list.len() > 0).then(pl.concat_str(
        pl.lit("["), _json(dims), pl.lit(","), _json(a.struct.field("Input type")), pl.lit(","),
        _json(a.struct.field("Concrete Inputs")), pl.lit(","), _json(a.struct.field("Input Strides")), pl.lit("]")))
    return (df.lazy().with_columns(args=pl.struct(*(a.struct.field(k) for k in _ARGS)), shapes=shapes)
            .collect(engine=ENGINE))


def _shapes(e: Any) -> str | None:
    a = e.get("args") if type(e) is dict else None
    if type(a) is not dict or not a.get("Input Dims"):
        return None
    return orjson.dumps([a["Input Dims"], a.get("Input type"), a.get("Concrete Inputs"), a.get("Input Strides")]).decode()


def _text(v: Any) -> str | None:
    return None if v is None or isinstance(v, dict | list | bool) else str(v)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return None
    try:
        return float(v)
    except (ValueError, OverflowError):
        return None


def _frame_python(events: list[Any]) -> pl.DataFrame:
    """The raw columns from decoded events (the fallback path). A ts written as text or as an integer keeps
    its text (orjson's floats are as lossy as polars')."""
    rows = []
    for e in events:
        if type(e) is not dict:
            continue
        a = e.get("args")
        a = a if type(a) is dict else {}
        ts = e.get("ts")
        rows.append({"ph": _text(e.get("ph")), "cat": _text(e.get("cat")), "name": _text(e.get("name")),
                     "pid": _text(e.get("pid")), "tid": _text(e.get("tid")), "ts": _number(ts),
                     "dur": _number(e.get("dur")), "id": _text(e.get("id")),
                     "args": {k: _text(a.get(k)) for k in _ARGS}, "shapes": _shapes(e),
                     "ts_text": _text(ts) if isinstance(ts, int | str) and not isinstance(ts, bool) else None})
    return pl.DataFrame(rows, schema=_RAW_SCHEMA)


def with_ts_text(raw: pl.DataFrame, buf: bytes | list[bytes]) -> pl.DataFrame:
    """ts_text from the bytes: the n-th ts in the text is the n-th non-null ts of the rows. A count that
    differs (a ts key inside args, a ts written as a string) leaves the rows as they are; typed() checks
    each text against its row's float value."""
    # (the bytes go to polars as they are, and become text there: no Python str copy of the chunk)
    found = (pl.DataFrame({"b": buf if isinstance(buf, list) else [buf]}, schema={"b": pl.Binary}).lazy()
             .select(pl.col("b").cast(pl.String, strict=False).str.extract_all(_TS_TEXT).explode().drop_nulls())
             .collect(engine=ENGINE).to_series())
    missing = raw["ts"].null_count()
    if found.len() != raw.height - missing:
        return raw
    if missing:
        found = pl.Series(values=[None] * raw.height, dtype=_S).scatter(raw["ts"].is_not_null().arg_true(), found)
    if "ts_text" in raw.columns:  # the Python path's own texts (integers, strings) come first
        found = raw["ts_text"].fill_null(found)
    return raw.with_columns(ts_text=found)


def unit_of(raw: pl.DataFrame) -> str:
    """Chrome-trace ts are microseconds; a ts of 18+ integer digits (>= 1e17) cannot be microseconds of
    any plausible clock: such files wrote nanoseconds."""
    top = raw["ts"].abs().max()
    return "ns" if isinstance(top, float) and top >= 1e17 else "us"


def _ns_from_float(x: pl.Expr, digits: int) -> pl.Expr:
    """Float us (or ns) -> integer units of 10**-digits: whole part and fraction apart, each exact in
    float64, so below 2**42 this gives back the decimal the file wrote (3 decimals at most)."""
    whole = x.floor()
    return whole.cast(pl.Int64, strict=False) * 10**digits + ((x - whole) * 10**digits).round().cast(pl.Int64)


def _ns_from_text(x: pl.Expr, digits: int) -> pl.Expr:
    """Decimal text -> integer units of 10**-digits, digit by digit (ties to even); exponent notation too."""
    return (x.cast(pl.Decimal(38, digits), strict=False) * 10**digits).cast(pl.Int64, strict=False)


def typed(raw: pl.DataFrame, unit: str, *, check: bool = False) -> tuple[pl.DataFrame, bool, int]:
    """The chunk's typed columns (TYPED_SCHEMA), events without ph or ts dropped, in one query; with
    ``check``, whether a float ts without text may have lost digits (then ts need their text); and how many
    events were dropped for a ts or dur beyond NS_LIMIT. A text that is not its row's float value to one ulp
    means misaligned texts: the chunk keeps the float values."""
    d, shapes = (0 if unit == "ns" else 3), "shapes" in raw.columns
    if "ts_text" in raw.columns:
        out, misaligned, lossy, oor = _run(raw, _query(d, True, shapes, check))
        if not misaligned:
            return out, lossy, oor
    out, _, lossy, oor = _run(raw, _query(d, False, shapes, check))
    return out, lossy, oor


@lru_cache(maxsize=32)
def _query(d: int, text: bool, shapes: bool, check: bool) -> tuple[pl.Expr | str, ...]:
    """The typed columns and the two chunk-wide flags (misaligned texts, lossy floats) as expressions over
    a raw chunk; built once per kind of chunk (building them costs as much as running them on a small one)."""
    f = pl.col("ts")
    if text:
        t = pl.col("ts_text").str.strip_chars_start(_TS_PREFIX)
        ts = pl.coalesce(_ns_from_text(t, d), _ns_from_float(f, d))
        misaligned = ((t.cast(_F, strict=False) - f).abs() > f.abs() * 2.0**-52).any()
        lossy = _lossy(f.filter(t.is_null()), check)
    else:
        ts, misaligned, lossy = _ns_from_float(f, d), pl.lit(False), _lossy(f, check)
    limit = NS_LIMIT / 10**d  # in the file's unit
    # (an event without ts, metadata, is kept whatever its dur: only timed events can be out of range)
    oor = (f.is_not_null() & ((f.abs() >= limit) | (pl.col("dur") >= limit)).fill_null(False))
    ts = pl.when(oor).then(pl.lit(None, pl.Int64)).otherwise(ts)  # dropped as BAD, counted apart
    # (clipped before the conversion: -1e16 us would wrap int64 to +8.4e18 ns)
    dur = _ns_from_float(pl.col("dur").clip(lower_bound=0, upper_bound=limit), d).fill_null(0)
    args = pl.col("args").cast(_ARGS_TYPED, strict=False).struct.rename_fields(list(_ARG_TYPES))
    return (pl.col("ph", "cat").cast(_C), "name", pl.col("pid", "tid").cast(pl.Int64, strict=False),
            pl.col("id").cast(pl.Int64, strict=False).alias("flow_id"), ts.alias("ts"), dur.alias("dur"), args,
            pl.col("shapes") if shapes else pl.lit(None, _S).alias("shapes"),
            misaligned.alias("_misaligned"), lossy.alias("_lossy"), oor.fill_null(False).sum().alias("_oor"))


def _lossy(f: pl.Expr, check: bool) -> pl.Expr:
    """Whether some of these float ts may not be the decimal the file wrote."""
    if not check:
        return pl.lit(False)
    big = f.abs() >= _EXACT_FRACTION
    return ((f.abs() >= _EXACT_INTEGER) | (big & (f != f.floor()))).any() | big.sum().is_between(1, _FEW - 1)


_IS_GPU = (pl.col("cat").is_in(GPU_CATS) & (pl.col("ph") == "X")).fill_null(False)
# Row-local columns of the Events table, computed here (on the converting thread) rather than over the
# whole table: GPU events' stream is args.stream, else tid; their device args.device, else pid.
_ROW_LOCAL = (pl.when("gpu").then(pl.coalesce("stream", "tid")).otherwise("stream").alias("stream"),
              pl.when("gpu").then(pl.coalesce(pl.col("device"), pl.col("pid").cast(pl.Int32))).otherwise("device")
              .alias("device"))
_FLAGS = ("_misaligned", "_lossy", "_oor")


def _run(raw: pl.DataFrame, query: tuple[pl.Expr | str, ...]) -> tuple[pl.DataFrame, bool, bool, int]:
    """One query: the typed columns, filtered, plus the chunk-wide flags (scalars broadcast as columns)."""
    out = (raw.lazy().select(query).unnest("args").filter(~BAD).with_columns(gpu=_IS_GPU)
           .with_columns(*_ROW_LOCAL).collect(engine=ENGINE))
    if out.height:
        misaligned, lossy, oor = bool(out["_misaligned"][0]), bool(out["_lossy"][0]), int(out["_oor"][0])
    else:  # every event dropped: the flags from the chunk itself
        m, lo, o = raw.select(query[-3:]).row(0)
        misaligned, lossy, oor = bool(m), bool(lo), int(o or 0)
    # (dropping the flag columns this way needs no query)
    return pl.DataFrame([c for c in out.get_columns() if c.name not in _FLAGS]), misaligned, lossy, oor


# lean batches: the analysis columns (and device, which read_rank turns into the RankInfo's GPU) without
# the flow events; the link columns are added later (link.py)
_LEAN = [c for c in TYPED_SCHEMA if c in ANALYSIS_SCHEMA or c == "device"]


def lean_rows(out: pl.DataFrame) -> pl.DataFrame:
    """What the analyses read of a converted batch (schema.ANALYSIS_SCHEMA): no flow events, no columns
    they do not read, name and shapes as Categorical."""
    return (out.lazy().filter(~pl.col("ph").is_in(FLOW_PHASES))
            .select("idx", *_LEAN).with_columns(pl.col("name", "shapes").cast(_C)).collect(engine=ENGINE))
