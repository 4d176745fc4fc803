"""JSON text helpers shared by the readers: decode past orjson's nesting limit, and say where (which
byte) a text stops being JSON and whether it is merely cut short.

orjson refuses documents nested deeper than 1024 levels (its recursion limit); a trace never needs a
value that deep (event args are a few levels), so such values are replaced by ``null`` before decoding
rather than refusing the whole file. Only the rare text that fails takes this path.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

# orjson.loads' nesting limit (orjson README, "Deserialize": "raises JSONDecodeError if ... nested more
# than 1024 levels deep"); values at this depth and below are dropped.
MAX_DEPTH = 512
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_EOF = "unexpected end of data"


class JsonError(NamedTuple):
    byte: int  # offset of the error in the text, in bytes
    msg: str  # orjson's message, without its line/column suffix
    cut: bool  # the text is a valid prefix cut short (a chunk boundary inside a string or a value)


def shallow(buf: bytes, limit: int = MAX_DEPTH) -> bytes:
    """``buf`` with every value nested ``limit`` or more levels deep replaced by null (strings skipped
    whole, so brackets inside them do not count)."""
    out: list[bytes] = []
    depth, keep_from, cut_at = 0, 0, -1
    for m in _TOKEN.finditer(buf):
        tok = m.group()
        if tok[0] == 0x22:  # a string
            continue
        if tok in (b"[", b"{"):
            depth += 1
            if depth == limit:
                cut_at = m.start()
        else:
            if depth == limit and cut_at >= 0:
                out.append(buf[keep_from:cut_at])
                out.append(b"null")
                keep_from, cut_at = m.end(), -1
            depth -= 1
    out.append(buf[keep_from:])
    return b"".join(out)


def loads(buf: bytes) -> Any:
    """orjson.loads, with values nested deeper than MAX_DEPTH dropped instead of refusing the text."""
    try:
        return orjson.loads(buf)
    except orjson.JSONDecodeError as e:
        if "depth" not in e.msg:
            raise
    return orjson.loads(shallow(buf))


def error(buf: bytes) -> JsonError | None:
    """Where ``buf`` stops being JSON (None when it is valid, after dropping too-deep values)."""
    try:
        loads(buf)
    except orjson.JSONDecodeError as e:
        doc = e.doc if isinstance(e.doc, str) else ""
        byte = len(doc[: e.pos].encode()) if doc else int(e.pos)
        return JsonError(byte=byte, msg=e.msg, cut=e.msg == _EOF or byte >= len(buf) - 1)
    return None
