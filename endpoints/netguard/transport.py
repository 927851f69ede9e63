"""Connect-time enforcement: every connection is vetted after DNS, on the address used."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

from endpoints.netguard.policy import is_forbidden_host, is_forbidden_ip, parse_ip_literal
from endpoints.netguard.urls import Resolver, system_resolver


class BlockedAddressError(httpx2.ConnectError):
    """A connection was refused because its destination is forbidden (checked after DNS)."""

    def __init__(self, message: str, *, host: str, address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2 network backend that vets every address before connecting to it.

    httpcore2 hands ``connect_tcp`` the URL's host; we resolve it ourselves, refuse the
    connection if *any* answer is forbidden, then connect to the vetted IP literal, so the
    address checked is the address used.  TLS (``start_tls``) still gets the original host name
    from the connection for SNI and certificate checks, and the Host header is untouched.
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver | None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or system_resolver
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception = httpcore2.ConnectError(f"could not connect to {host}")
        for address in await self._vetted_addresses(host, port, timeout):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise httpcore2.ConnectTimeout(f"timed out connecting to {host}")
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=remaining, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as exc:  # try the next address, like getaddrinfo users do
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise BlockedAddressError("refusing to connect to a Unix socket", host=path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _vetted_addresses(self, host: str, port: int, resolve_timeout: float | None) -> list[str]:
        literal = parse_ip_literal(host)
        if literal is not None:
            reason = is_forbidden_ip(literal, allow_private=self._allow_private)
            if reason is not None:
                raise BlockedAddressError(
                    f"refusing to connect to {host}: {literal} is {reason}", host=host, address=str(literal)
                )
            return [str(literal)]
        reason = is_forbidden_host(host, allow_private=self._allow_private)
        if reason is not None:
            raise BlockedAddressError(f"refusing to connect to {host}: it is {reason}", host=host)
        addresses = await self._resolve(host, port, resolve_timeout)
        for address in addresses:
            reason = is_forbidden_ip(address, allow_private=self._allow_private)
            if reason is not None:
                raise BlockedAddressError(
                    f"refusing to connect to {host}: it resolves to {address}, {reason}", host=host, address=address
                )
        return addresses

    async def _resolve(self, host: str, port: int, resolve_timeout: float | None) -> list[str]:
        try:
            with anyio.fail_after(resolve_timeout):
                answers = await anyio.to_thread.run_sync(self._resolver, host, port, abandon_on_cancel=True)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"timed out resolving {host}") from None
        except (OSError, UnicodeError):
            raise httpcore2.ConnectError(f"could not resolve {host}") from None
        addresses = list(dict.fromkeys(answers))
        if not addresses:
            raise httpcore2.ConnectError(f"{host} resolved to no address")
        return addresses


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """``httpx2.AsyncHTTPTransport`` whose every connection goes through the address guard.

    Never uses a proxy or a Unix socket (either would bypass the check).  Options are those of
    ``AsyncHTTPTransport``; ``trust_env`` here only concerns TLS variables (``SSL_CERT_FILE``).
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx2.Limits | None = None,
        retries: int = 0,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> None:
        limits = limits or httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        options: dict[str, Any] = {
            "http1": http1,
            "http2": http2,
            "retries": retries,
            "local_address": local_address,
            "socket_options": socket_options,
        }
        super().__init__(verify=verify, cert=cert, trust_env=trust_env, limits=limits, **options)
        self.allow_private = allow_private
        # AsyncHTTPTransport takes no network backend, so replace its pool with an identical
        # one built on ours (httpx2's handle_async_request sends everything through _pool).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_private=allow_private, resolver=resolver),
            **options,
        )


def guarded_transport(
    *, allow_private: bool = False, resolver: Resolver | None = None, **options: Any
) -> GuardedTransport:
    """The transport for every upstream call.  ``allow_private=False`` (the default) is for
    user-supplied base URLs; admin-configured endpoints pass ``allow_private=True``."""
    return GuardedTransport(allow_private=allow_private, resolver=resolver, **options)


_CLIENT_BYPASSES = ("transport", "mounts", "proxy", "app")
_TRANSPORT_OPTIONS = ("verify", "cert", "http1", "http2", "limits", "retries", "local_address", "socket_options")


def make_guarded_client(
    *, allow_private: bool = False, resolver: Resolver | None = None, **kwargs: Any
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` on :func:`guarded_transport`.

    It ignores proxy variables and does not follow redirects (a 3xx is returned as is); were a
    caller to pass ``follow_redirects=True`` to a request, each hop would still be vetted by the
    transport.  Connection options (``verify``, ``limits``, ``http2`` …) go to the transport,
    everything else (``timeout``, ``headers``, ``base_url`` …) to the client.
    """
    for name in _CLIENT_BYPASSES:
        if name in kwargs:
            raise TypeError(f"make_guarded_client() does not take {name!r}: it would bypass the address guard")
    if kwargs.pop("trust_env", False) or kwargs.pop("follow_redirects", False):
        raise TypeError("make_guarded_client() never honours proxy variables or follows redirects")
    options = {name: kwargs.pop(name) for name in _TRANSPORT_OPTIONS if name in kwargs}
    transport = guarded_transport(allow_private=allow_private, resolver=resolver, **options)
    return httpx2.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, **kwargs)
