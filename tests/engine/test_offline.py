import socket

import pytest

from hbopt.engine import offline
from hbopt.errors import NetworkBlockedError


def test_connections_and_lookups_are_blocked_naming_the_target_and_the_caller():
    with pytest.raises(NetworkBlockedError, match=r"connection to \('203\.0\.113\.1', 443\).*test_offline\.py"):
        with offline.offline():
            socket.create_connection(("203.0.113.1", 443), timeout=1)
    with pytest.raises(NetworkBlockedError, match="name lookup of api.binance.com:443"):
        with offline.offline():
            socket.getaddrinfo("api.binance.com", 443)
    with pytest.raises(NetworkBlockedError, match="connect to"):
        with offline.offline():
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))


def test_an_attempt_a_library_swallows_is_still_reported():
    with pytest.raises(NetworkBlockedError, match="name lookup of example.org"):
        with offline.offline():
            try:
                socket.getaddrinfo("example.org", 80)
            except Exception:
                pass  # what a retry loop might do


def test_unix_sockets_keep_working_and_the_network_comes_back_afterwards():
    with offline.offline():
        a, b = socket.socketpair()
        a.sendall(b"ok")
        assert b.recv(2) == b"ok"
    assert not offline.is_installed()
    assert socket.getaddrinfo("127.0.0.1", 80)
