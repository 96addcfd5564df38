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

from hbopt.errors import BusyError, ConfigError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over ``path``.

    On failure the temporary file is removed and ``path`` is left as it was, so a reader never
    sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} does not hold {what} (a YAML mapping)")
    return data
