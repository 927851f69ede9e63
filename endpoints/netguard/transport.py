"""Connect-time enforcement: every connection is vetted after DNS, on the address used.

The transport is httpx2's interface (its requests, responses and errors, which every adapter and
test speaks) carried by aiohttp's connection pool: the same relay spends about half the CPU per
request on aiohttp's pool as on httpx2's own (``bench/relay_clients.py``).  Host names go through
:class:`_GuardedResolver`, which refuses the connection if *any* answer is forbidden and hands
aiohttp the vetted addresses, so the address checked is the address used; IP literals (which
aiohttp never resolves) are checked before the request is sent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import aiohttp
import httpx2
from aiohttp.abc import AbstractResolver, ResolveResult

from endpoints.netguard.policy import is_forbidden_host, is_forbidden_ip, parse_ip_literal
from endpoints.netguard.urls import Resolver, system_resolver

MAX_HEADER_BYTES = 64 * 1024  # an upstream's status line or header field (aiohttp's default is 8 KiB)


class BlockedAddressError(httpx2.ConnectError):
    """A connection was refused because its destination is forbidden (checked after DNS)."""

    def __init__(self, message: str, *, host: str, address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


class _ResolveFailed(Exception):
    """The name did not resolve (kept apart from OSError, which aiohttp would rewrap)."""


class _GuardedResolver(AbstractResolver):
    """aiohttp resolver that resolves with ``resolver`` (in a thread) and vets every answer."""

    def __init__(self, *, allow_private: bool, resolver: Resolver | None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or system_resolver

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        name = host
        reason = is_forbidden_host(name, allow_private=self._allow_private)
        if reason is not None:
            raise BlockedAddressError(f"refusing to connect to {name}: it is {reason}", host=name)
        try:
            answers = await asyncio.to_thread(self._resolver, name, port)
        except (OSError, UnicodeError):
            raise _ResolveFailed(f"could not resolve {name}") from None
        addresses = list(dict.fromkeys(answers))
        if not addresses:
            raise _ResolveFailed(f"{name} resolved to no address")
        for address in addresses:
            reason = is_forbidden_ip(address, allow_private=self._allow_private)
            if reason is not None:
                raise BlockedAddressError(
                    f"refusing to connect to {name}: it resolves to {address}, {reason}", host=name, address=address
                )
        return [
            {"hostname": host, "host": address, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        pass


class _ResponseStream(httpx2.AsyncByteStream):
    """An aiohttp response body as httpx2 reads it; closing before the end drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.SocketTimeoutError as exc:
            raise httpx2.ReadTimeout(str(exc)) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx2.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        response = self._response
        if response.content.is_eof():
            response.release()  # read to its end: the connection goes back to the pool
        else:
            response.close()


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport on aiohttp whose every connection goes through the address guard.

    Never uses a proxy or a Unix socket (either would bypass the check), never follows a redirect
    itself.  ``verify``/``cert``/``trust_env`` make the TLS context as httpx2 would (``trust_env``
    here only concerns TLS variables such as ``SSL_CERT_FILE``); ``limits`` sizes the pool.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: httpx2.Limits | None = None,
    ) -> None:
        limits = limits or httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        self.allow_private = allow_private
        self._resolver = resolver
        self._ssl: ssl.SSLContext = httpx2.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        self._limit = limits.max_connections or 0  # aiohttp: 0 is no limit
        self._keepalive = limits.keepalive_expiry
        self._session: aiohttp.ClientSession | None = None  # opened in the loop of the first request

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=_GuardedResolver(allow_private=self.allow_private, resolver=self._resolver),
            use_dns_cache=False,  # every new connection is resolved and vetted again (DNS rebinding)
            ssl=self._ssl,
            limit=self._limit,
            limit_per_host=0,
            keepalive_timeout=self._keepalive if self._keepalive is not None else 30.0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # stateless: one caller's cookies never reach the next
            trust_env=False,  # no proxies from the environment
            auto_decompress=False,  # httpx2 decodes, as it would on its own pool
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),  # httpx2 sets its own
            timeout=aiohttp.ClientTimeout(total=None),
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
        )
        return self._session

    def _checked_url(self, url: httpx2.URL) -> str:
        """The URL to connect to: an IP literal checked against the policy and written canonically
        (``2130706433`` or ``0x7f.1`` as ``127.0.0.1``, as the OS would read them; aiohttp takes
        only the canonical form), a host name as it is (the resolver vets it)."""
        host = url.host
        literal = parse_ip_literal(host)
        if literal is None:
            return str(url)
        reason = is_forbidden_ip(literal, allow_private=self.allow_private)
        if reason is not None:
            raise BlockedAddressError(
                f"refusing to connect to {host}: {literal} is {reason}", host=host, address=str(literal)
            )
        return str(url if str(literal) == host else url.copy_with(host=str(literal)))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"refusing the URL scheme {url.scheme!r}")
        target = self._checked_url(url)
        session = self._session if self._session is not None and not self._session.closed else self._open()
        t = request.extensions.get("timeout", {})
        pool, connect, read = t.get("pool"), t.get("connect"), t.get("read")
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None and connect is None else (pool or 0) + (connect or 0),
            sock_connect=connect,
            sock_read=read,
        )
        body = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        try:
            response = await session.request(
                request.method, target, data=body or None, headers=headers, allow_redirects=False, timeout=timeout
            )
        except (BlockedAddressError, httpx2.HTTPError):
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx2.ConnectTimeout(f"timed out connecting to {url.host}") from exc
        except aiohttp.SocketTimeoutError as exc:
            raise httpx2.ReadTimeout(f"{url.host} did not answer in time") from exc
        except TimeoutError as exc:
            raise httpx2.TimeoutException(f"timed out talking to {url.host}") from exc
        except aiohttp.InvalidURL as exc:
            raise httpx2.InvalidURL(f"not a valid URL: {exc}") from exc
        except (aiohttp.ClientConnectorError, _ResolveFailed, ConnectionError) as exc:
            raise httpx2.ConnectError(f"could not connect to {url.host}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx2.RemoteProtocolError(f"the connection to {url.host} failed") from exc
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")},
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def guarded_transport(
    *, allow_private: bool = False, resolver: Resolver | None = None, **options: Any
) -> GuardedTransport:
    """The transport for every upstream call.  ``allow_private=False`` (the default) is for
    user-supplied base URLs; admin-configured endpoints pass ``allow_private=True``."""
    return GuardedTransport(allow_private=allow_private, resolver=resolver, **options)


_CLIENT_BYPASSES = ("transport", "mounts", "proxy", "app")
_TRANSPORT_OPTIONS = ("verify", "cert", "limits")


def make_guarded_client(
    *, allow_private: bool = False, resolver: Resolver | None = None, **kwargs: Any
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` on :func:`guarded_transport`.

    It ignores proxy variables and does not follow redirects (a 3xx is returned as is); were a
    caller to pass ``follow_redirects=True`` to a request, each hop would still be vetted by the
    transport.  Connection options (``verify``, ``cert``, ``limits``) go to the transport,
    everything else (``timeout``, ``headers``, ``base_url`` …) to the client.  It keeps no cookies:
    what one upstream answer sets is never sent with the next request, whoever makes it.
    """
    for name in _CLIENT_BYPASSES:
        if name in kwargs:
            raise TypeError(f"make_guarded_client() does not take {name!r}: it would bypass the address guard")
    if kwargs.pop("trust_env", False) or kwargs.pop("follow_redirects", False):
        raise TypeError("make_guarded_client() never honours proxy variables or follows redirects")
    options = {name: kwargs.pop(name) for name in _TRANSPORT_OPTIONS if name in kwargs}
    transport = guarded_transport(allow_private=allow_private, resolver=resolver, **options)
    return httpx2.AsyncClient(
        transport=transport, trust_env=False, follow_redirects=False, cookies=_no_cookies(), **kwargs
    )


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))  # a jar that accepts none
