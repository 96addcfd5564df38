"""Cutting the network off at the socket, so a backtest can never download or send anything.

While the guard is on, any attempt to resolve a host name or open an internet socket connection
raises :class:`NetworkBlockedError` naming the address and the code that tried. Unix sockets
(used by multiprocessing and event loops) keep working. Every attempt is also recorded, so an
attempt swallowed by a library's retry loop is still reported by :func:`blocked_attempts`.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import traceback
from typing import Iterator

from hbopt.errors import NetworkBlockedError

_INTERNET_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_IGNORED_FRAMES = ("socket.py", "asyncio", "aiohttp", "ssl.py", "concurrent", "threading.py",
                   "hbopt/engine/offline.py", "aiodns", "selectors.py", "hummingbot/core/web_assistant")

_originals: dict[str, object] = {}
_attempts: list[str] = []
_lock = threading.Lock()


def _culprit() -> str:
    """The innermost frame outside the standard networking stack: who tried to connect."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not any(part in frame.filename for part in _IGNORED_FRAMES):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown caller"


def _block(what: str):
    message = f"network access blocked (offline run): {what}, attempted by {_culprit()}"
    with _lock:
        _attempts.append(message)
    raise NetworkBlockedError(message)


def _guarded_connect(self, address):
    if self.family in _INTERNET_FAMILIES:
        _block(f"connect to {address!r}")
    return _originals["connect"](self, address)


def _guarded_connect_ex(self, address):
    if self.family in _INTERNET_FAMILIES:
        _block(f"connect to {address!r}")
    return _originals["connect_ex"](self, address)


def _guarded_getaddrinfo(host, port, *args, **kwargs):
    _block(f"name lookup of {host}:{port}")


def _guarded_create_connection(address, *args, **kwargs):
    _block(f"connection to {address!r}")


async def _guarded_loop_getaddrinfo(self, host, port, *args, **kwargs):
    _block(f"name lookup of {host}:{port}")  # in the event loop's thread, so the caller is on the stack


def install() -> None:
    """Cut the network off for the rest of this process (idempotent). Used by workers."""
    with _lock:
        if _originals:
            return
        _originals.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex,
                          getaddrinfo=socket.getaddrinfo, create_connection=socket.create_connection,
                          loop_getaddrinfo=asyncio.base_events.BaseEventLoop.getaddrinfo)
        asyncio.base_events.BaseEventLoop.getaddrinfo = _guarded_loop_getaddrinfo
        socket.socket.connect = _guarded_connect
        socket.socket.connect_ex = _guarded_connect_ex
        socket.getaddrinfo = _guarded_getaddrinfo
        socket.create_connection = _guarded_create_connection


def uninstall() -> None:
    """Restore the network functions :func:`install` replaced."""
    with _lock:
        if not _originals:
            return
        socket.socket.connect = _originals["connect"]
        socket.socket.connect_ex = _originals["connect_ex"]
        socket.getaddrinfo = _originals["getaddrinfo"]
        socket.create_connection = _originals["create_connection"]
        asyncio.base_events.BaseEventLoop.getaddrinfo = _originals["loop_getaddrinfo"]
        _originals.clear()


def is_installed() -> bool:
    return bool(_originals)


def blocked_attempts() -> list[str]:
    """Messages of the attempts blocked since the last :func:`reset_attempts`."""
    with _lock:
        return list(_attempts)


def reset_attempts() -> None:
    with _lock:
        _attempts.clear()


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Network cut off inside the block (left off if it already was); any attempt made inside,
    even one a library caught and swallowed, raises :class:`NetworkBlockedError` on exit."""
    was_installed = is_installed()
    install()
    reset_attempts()
    try:
        yield
    finally:
        attempts = blocked_attempts()
        if not was_installed:
            uninstall()
    if attempts:
        raise NetworkBlockedError(attempts[0] + (f" (and {len(attempts) - 1} more)" if len(attempts) > 1 else ""))


__all__ = ["offline", "install", "uninstall", "is_installed", "blocked_attempts", "reset_attempts"]
