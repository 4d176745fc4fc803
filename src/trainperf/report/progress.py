"""Progress feedback on stderr for long work (never on stdout, which may carry JSON)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while a single long step runs (only on a terminal)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """A progress bar over ``items`` on a terminal; otherwise (a log, CI) one plain line on stderr per item
    while there are at most 20, then one per 10% of ``total``, so long runs still show they advance."""
    if not sys.stderr.isatty():
        step = 1 if total is None or total <= 20 else max(1, total // 10)
        for i, item in enumerate(items, 1):
            if (i - 1) % step == 0 or i == total:
                print(f"{description}: {i}/{total if total is not None else '?'} {str(item)[:60]}",
                      file=sys.stderr, flush=True)
            yield item
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, console=Console(stderr=True))


@contextmanager
def counter(description: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback for work that reports its own counts (worker pools, Ray): a bar
    on a terminal; otherwise one plain stderr line per tenth of the total, as ``track`` does."""
    if not sys.stderr.isatty():
        last = [-1]

        def plain(done: int, total: int) -> None:
            tenth = 10 * done // max(total, 1)
            if tenth != last[0] or done == total:
                last[0] = tenth
                print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

        yield plain
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
