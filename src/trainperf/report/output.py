"""Writing the user's output files safely: one place for every `-o` / `--html` of the CLI.

An output is written to a temporary file in the same folder and renamed over the target, so an
interrupted or failed write (full disk, permission) never leaves a half file under the user's name and
never destroys what was there. A target that is one of the command's inputs is refused before any work.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def check_output(path: Path, *, inputs: Iterable[Path] = (), flag: str = "--output") -> None:
    """Refuse an output path before the command does its work: an input of the same command, a
    folder, or a parent that is not a folder. ValueError names the flag, the path and the fix."""
    for src in inputs:
        try:
            same = path.exists() and Path(src).exists() and os.path.samefile(path, src)
        except OSError:
            same = False
        if same or path.resolve() == Path(src).resolve():
            raise ValueError(f"{flag} {path} is also an input of this command; writing it would destroy the "
                             "input: give another file name")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name inside it")
    parent = path.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is not a folder")
    if not parent.exists():
        raise ValueError(f"{flag} {path}: folder {parent} does not exist; create it first")


def write_atomic(path: Path, write: Callable[[Path], object], *, flag: str = "--output") -> bool:
    """Write through `write(tmp_path)` then rename over `path`. Returns True when an existing file was
    replaced (callers say so). OSError becomes a one-line ValueError; the old file stays as it was."""
    replaced = path.exists()
    parent = path.resolve().parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file 0600: give the output the mode a plain open() would (or the replaced file's)
        mode = path.stat().st_mode & 0o777 if replaced else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"{flag} {path}: cannot write there ({e.strerror or e}); the old file, if any, "
                         "is unchanged") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return replaced


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: Path, text: str, *, flag: str = "--output") -> bool:
    """`write_atomic` for a text (UTF-8) file."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"), flag=flag)
