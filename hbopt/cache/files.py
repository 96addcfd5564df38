"""Safe file writing, inter-process locks and YAML reading shared by the store, the mirror,
studies and the command line."""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

import yaml

from hbopt import settings
from hbopt.errors import BusyError, ConfigError


def _unusable(path: Path, action: str, exc: OSError) -> ConfigError:
    """A one-line :class:`ConfigError` for an ``OSError`` met doing ``action`` (``"write"``, ...) on
    ``path``, naming the setting that chose the folder when it lies under one."""
    path = Path(path)
    message = f"cannot {action} {path}: {exc.strerror or exc}"
    for variable, folder in (("HBOPT_MIRROR_DIR", settings.mirror_dir()), ("HBOPT_HOME", settings.home())):
        if path.is_relative_to(folder):
            return ConfigError(f"{message} (the folder comes from ${variable}={folder})")
    return ConfigError(message)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents if missing; :class:`ConfigError` if that is impossible."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(folder, "create folder", exc) from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over ``path``.

    On failure the temporary file is removed and ``path`` is left as it was, so a reader never
    sees a half-written file. An ``OSError`` creating, writing or renaming it (permissions, a
    read-only or full disk) becomes a one-line :class:`ConfigError` naming ``path``.
    """
    path = Path(path)
    _make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _unusable(path, "write", exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _unusable(path, "write", exc) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def file_lock(path: Path, shared: bool = False, wait: bool = True, what: str = "") -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created if missing) for the ``with`` block.

    ``shared`` locks may be held by many readers at once; an exclusive lock excludes all others.
    With ``wait=False`` a held lock raises :class:`BusyError` at once instead of blocking.
    """
    path = Path(path)
    _make_folder(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unusable(path, "create lock file", exc) from None
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            raise BusyError(f"{what or path} is locked by another hbopt process") from None
        yield
    finally:
        os.close(fd)


def read_yaml_mapping(path: Path, what: str) -> dict:
    """A YAML file holding a mapping (``what`` names it in errors), or :class:`ConfigError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not a text file (it is not UTF-8)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} does not hold {what} (a YAML mapping)")
    return data
