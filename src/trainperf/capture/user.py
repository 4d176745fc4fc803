"""A user's own model as a workload: ``path/to/file.py:function`` returning a Built or a Workload."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

from trainperf.workloads.registry import Built, Size, Workload


class UserCodeError(ValueError):
    """The user's file raised; the message carries the user's own traceback, not ours."""


def _user_traceback(e: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    lines = "".join(traceback.format_list(frames)) if frames else ""
    if isinstance(e, SystemExit):  # the user's code asked to exit: say so instead of exiting with its code
        return f"{lines}it called sys.exit({e.code!r}); a workload function must return, not exit"
    return f"{lines}{type(e).__name__}: {e}"


def load_user_workload(spec: str, flavor: str = "full", size: Size | None = None) -> tuple[Built, str]:
    """Import ``file.py`` and call ``function``; errors name the file and show the user's own error."""
    file, _, func = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"{file}: no such file (expected path/to/file.py:function)")
    if not func.isidentifier():
        raise ValueError(f"{spec}: {func!r} is not a function name (expected path/to/file.py:function)")
    mod_name = f"trainperf_user_{path.stem}"
    spec_obj = importlib.util.spec_from_file_location(mod_name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise ValueError(f"{file}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec_obj)
    sys.modules[mod_name] = module
    try:
        spec_obj.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise UserCodeError(f"{file} failed to import:\n{_user_traceback(e, path)}") from None
    fn = getattr(module, func, None)
    if fn is None or not callable(fn):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ValueError(f"{file} has no function {func!r}; callables there: {', '.join(names) or 'none'}")
    try:
        obj = fn()
    except (Exception, SystemExit) as e:
        raise UserCodeError(f"{spec} raised:\n{_user_traceback(e, path)}") from None
    if isinstance(obj, Workload):
        return obj.build(flavor, size), obj.name
    if isinstance(obj, Built):
        return obj, f"{path.stem}:{func}"
    raise ValueError(f"{spec} returned {type(obj).__name__}; it must return trainperf.workloads.Built or Workload")
