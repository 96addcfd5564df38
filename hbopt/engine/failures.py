"""Who raised: the controller's code, Hummingbot, or hbopt itself.

An exception escaping a backtest is blamed on the innermost frame of its traceback that belongs
to one of them (frames of other libraries, pandas or pydantic say, are skipped: they only did
what their caller asked). The controller's code is its package folder (a user's controllers
folder, or hbopt's built-ins); Hummingbot is the installed ``hummingbot`` package.
"""
from __future__ import annotations

import importlib
import traceback
from pathlib import Path

import hbopt
from hbopt.errors import ControllerError

_HBOPT = Path(hbopt.__file__).resolve().parent


def _package_root(package: str) -> Path | None:
    """The folder of an importable package (a namespace package's first), or ``None``."""
    try:
        folders = list(importlib.import_module(package).__path__)
    except (ImportError, AttributeError):
        return None
    return Path(folders[0]).resolve() if folders else None


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line; a pydantic error says which field and why."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and getattr(exc, "title", None):
        first = errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "value"
        return f"{type(exc).__name__}: {exc.title}: {field}: {first['msg']} (got {first.get('input')!r})"
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def blame(exc: BaseException, controllers_package: str) -> ControllerError | None:
    """A :class:`ControllerError` naming the file and line where the controller's code (any module
    in ``controllers_package``, e.g. ``hbopt.controllers`` or a user's controllers folder) or
    Hummingbot raised ``exc``; ``None`` when the innermost such frame is hbopt's own (a bug)."""
    controller_root = _package_root(controllers_package)
    hummingbot_root = _package_root("hummingbot")
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename).resolve()
        if controller_root and path.is_relative_to(controller_root):
            who = "the controller"
        elif hummingbot_root and path.is_relative_to(hummingbot_root):
            who = "Hummingbot"
        elif path.is_relative_to(_HBOPT):
            return None
        else:
            continue
        return ControllerError(f"{who} raised {_one_line(exc)} ({_shown(path)}:{frame.lineno} in {frame.name})")
    return None


def _shown(path: Path) -> str:
    """A path as short as it stays unambiguous: from the ``hummingbot`` or ``hbopt`` package folder
    for their code, else as it is (a user's controller file)."""
    for package in (_package_root("hummingbot"), _HBOPT):
        if package is not None and path.is_relative_to(package):
            return str(path.relative_to(package.parent))
    return str(path)
