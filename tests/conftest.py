"""Test-wide fixtures.  No test may reach the internet: every socket connect and
DNS lookup outside the loopback range fails at once."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

pytest_plugins = ["tests.fakes.fixtures", "tests.live", "tests.processes", "tests.browser"]

os.environ.setdefault("TESTING", "true")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkBlocked(OSError):
    """Raised when a test tries to reach anything but the loopback range."""


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: object) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise NetworkBlocked(f"tests may not connect to {address!r}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or _is_loopback(name):
        return _real_getaddrinfo(host, *args, **kwargs)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        # A real name would need DNS, which is the internet: fail like a
        # resolver that cannot find it.
        raise socket.gaierror(socket.EAI_NONAME, f"DNS blocked in tests: {name}") from None
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty shared cache and process-local memo (so fresh config snapshots)."""
    from django.core.cache import cache

    from core import memo

    cache.clear()
    memo.clear()
    yield
