"""A trace file's bytes as a stream: gzip inflated on a read-ahead thread, and the window of text read but
not yet parsed. Both keep large allocations out of the loop: on these machines a fresh 4 KB page costs
3 us to fault in, and a resized or newly allocated multi-MB buffer is fresh pages every time."""

from __future__ import annotations

import contextlib
import queue
import threading
import zlib
from pathlib import Path

from trainperf.trace.schema import TraceError

_GZ_BLOCK = 1 << 15  # compressed bytes read at a time
_GZ_PIECE = 1 << 16  # most bytes one inflate call returns
_GZ_ITEM = 1 << 18  # inflated bytes handed over at a time
_GZ_AHEAD = 2  # items the read-ahead thread may get ahead (inflating is 5x faster than parsing)


class Source:
    """A trace file's (decompressed) bytes, block by block. gzip goes through zlib directly (the gzip
    module inflates 8 KB at a time with a Python-level crc per block) on a read-ahead thread: zlib
    releases the GIL, so inflating the next blocks overlaps parsing this one. Multi-member files
    (concatenated gzip streams) are read through; a stream that ends early is an error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.f = path.open("rb")
        except IsADirectoryError:
            raise TraceError(f"{path}: is a folder, expected a trace file") from None
        self.gz = self.f.read(2) == b"\x1f\x8b"
        self.f.seek(0)
        self.q: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(maxsize=_GZ_AHEAD)
        self.stop = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._inflate, daemon=True) if self.gz else None
        if self.thread is not None:
            self.thread.start()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread is not None:
            self.stop.set()
            while self.thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    self.q.get(timeout=0.01)
        self.f.close()

    def _bad(self, why: str) -> TraceError:
        return TraceError(f"{self.path}: truncated or corrupt gzip ({why}); re-copy or re-export the trace")

    def _inflate(self) -> None:
        """The read-ahead thread: inflated pieces, a few hundred KB per queue item; None at the end, or
        the error."""
        try:
            z, pending, in_member, batch, size = zlib.decompressobj(31), b"", False, [], 0
            while not self.stop.is_set():
                comp = z.unconsumed_tail or pending or self.f.read(_GZ_BLOCK)
                pending = b""
                if not comp:
                    if in_member:
                        raise self._bad("the compressed stream ends early")
                    break
                if not in_member and not comp.strip(b"\x00"):
                    continue  # zero padding after the last member (as gzip tolerates)
                try:
                    # small pieces: one above malloc's mmap threshold would be fresh pages every time
                    out = z.decompress(comp, _GZ_PIECE)
                except zlib.error as e:
                    raise self._bad(str(e)) from None
                in_member = not z.eof
                if z.eof:  # end of a member: what follows may be another one
                    pending, z = z.unused_data, zlib.decompressobj(31)
                batch.append(out)
                size += len(out)
                if size >= _GZ_ITEM:
                    self.q.put(batch)
                    batch, size = [], 0
            self.q.put(batch)
            self.q.put(None)
        except BaseException as e:  # handed to the reading thread
            self.q.put(e)

    def read_into(self, buf: Text, n: int) -> int:
        """Append at least ``n`` bytes to ``buf`` unless the file ends first; the count appended (0: the end).
        Pieces are appended one by one: joining them first would allocate a block as large (fresh pages:
        3 us per 4 KB page on this kind of machine)."""
        if not self.gz:
            blk = self.f.read(n)
            buf.extend(blk)
            return len(blk)
        got = 0
        while got < n and not self.done:
            item = self.q.get()
            if item is None:
                self.done = True
            elif isinstance(item, BaseException):
                self.done = True
                raise item
            else:
                for piece in item:
                    buf.extend(piece)
                    got += len(piece)
        return got


class Text:
    """The text read and not yet parsed: ``b[lo:hi]`` of one bytearray that is reused, not resized, once
    it has grown to its working size: an append that does not fit moves the unparsed rest to the front
    (memmove) first. (Dropping a parsed prefix from a plain bytearray makes its next growth a new
    allocation and a copy: fresh pages, at 3 us per 4 KB page.)"""

    def __init__(self) -> None:
        self.b = bytearray()
        self.lo = self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def extend(self, piece: bytes) -> None:
        n, live = len(piece), self.hi - self.lo
        if self.hi + n > len(self.b):
            if live + n > len(self.b):  # grow: the first blocks, or a very large event
                self.b.extend(bytearray(max(live + n - len(self.b), len(self.b))))
            with memoryview(self.b) as mv:
                mv[:live] = mv[self.lo : self.hi]
            self.lo, self.hi = 0, live
        with memoryview(self.b) as mv:
            mv[self.hi : self.hi + n] = piece
        self.hi += n

    def chunk(self, end: int) -> bytes:
        """``[`` + the text up to ``end`` (absolute) + ``]``: one JSON array for the parser."""
        with memoryview(self.b) as mv:
            return b"".join((b"[", mv[self.lo : end], b"]"))

    def rest(self) -> bytes:
        return bytes(self.b[self.lo : self.hi])
