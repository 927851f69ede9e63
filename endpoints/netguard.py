"""Outbound URL safety (SSRF guard) for base URLs that users and admins supply.

Two layers, both needed:

* **Save time** — :func:`validate_user_url` / :func:`validate_admin_url` parse a URL strictly,
  refuse parser tricks, interpret IP literals the way ``inet_aton``/``getaddrinfo`` would
  (``2130706433``, ``0x7f.1``, ``[::ffff:7f00:1]`` …), resolve names and require every answer to
  be allowed.  They raise :class:`UnsafeURLError` (a ``ValueError``) with a message fit for a form.
* **Connect time** — :func:`guarded_transport` / :func:`make_guarded_client` resolve the host
  themselves for every new connection, refuse it if any answer is forbidden, then connect to the
  vetted IP literal (Host header and TLS SNI stay the original name).  DNS rebinding between save
  and use is therefore caught.  They raise :class:`BlockedAddressError`, a subclass of
  ``httpx2.ConnectError``.

Policy (:func:`is_forbidden_ip`): user URLs may reach public unicast addresses only; admin URLs
(``allow_private=True``) may reach anything except cloud metadata services, which are refused
always — also when embedded in IPv4-mapped, NAT64, 6to4 or Teredo IPv6 addresses.

How callers map the errors: ``UnsafeURLError`` from a form or ``PUT /api/keys`` is a 400
``invalid_base_url``; a ``BlockedAddressError`` during a request is ``invalid_base_url`` when the
base URL came from the user, else ``upstream_error`` (502).  Catch it before generic
``httpx2.ConnectError`` handling, which it would otherwise fall into as a connection failure.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

__all__ = [
    "BlockedAddressError",
    "GuardedTransport",
    "Resolver",
    "UnsafeURLError",
    "guarded_transport",
    "is_forbidden_host",
    "is_forbidden_ip",
    "make_guarded_client",
    "system_resolver",
    "validate_admin_url",
    "validate_user_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port) -> [ip, …]``: every address the name resolves to, as strings.
Resolver = Callable[[str, int], list[str]]


class UnsafeURLError(ValueError):
    """A base URL is malformed or may reach an address it must not; the message says why."""


class BlockedAddressError(httpx2.ConnectError):
    """A connection was refused because its destination is forbidden (checked after DNS)."""

    def __init__(self, message: str, *, host: str, address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


# --- Address policy ----------------------------------------------------------------------

_METADATA_REASON = "a cloud metadata address"
_METADATA_IPS = frozenset(
    ipaddress.ip_address(ip)
    for ip in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean … instance metadata
        "169.254.170.2",  # AWS ECS task metadata / credentials
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_LOCAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa")


def _table(*rows: tuple[str, str]) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    return [(ipaddress.ip_network(net), reason) for net, reason in rows]


# First match wins, so the specific rows come first.
_V4_BLOCKED = _table(
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "a 'this network' address"),
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_BLOCKED = _table(
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("100::/64", "a discard-only address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPAT = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def _v4(raw: bytes) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(raw)


def _embedded_v4(addr: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address], bool] | None:
    """``(kind, embedded IPv4 addresses, refused for users whatever they embed)`` or None."""
    raw = addr.packed
    if addr in _MAPPED:
        return "an IPv4-mapped address", [_v4(raw[12:])], True
    if addr in _TRANSLATED:
        return "an IPv4-translated address", [_v4(raw[12:])], True
    if addr in _COMPAT:
        return "an IPv4-compatible address", [_v4(raw[12:])], True
    if addr in _NAT64:
        return "a NAT64 address", [_v4(raw[12:])], False
    if addr in _NAT64_LOCAL:
        # RFC 8215 lets operators use a /96 inside it (IPv4 in the last 32 bits) or the /48
        # itself (RFC 6052: IPv4 around the reserved "u" octet).  Check both readings.
        return "a local-use NAT64 address", [_v4(raw[12:]), _v4(raw[6:8] + raw[9:11])], True
    if addr in _SIX_TO_FOUR:
        return "a 6to4 address", [_v4(raw[2:6])], False
    if addr in _TEREDO:
        client = bytes(b ^ 0xFF for b in raw[12:])
        return "a Teredo address", [_v4(raw[4:8]), _v4(client)], True
    return None


def _v4_reason(addr: ipaddress.IPv4Address, allow_private: bool) -> str | None:
    if addr in _METADATA_IPS:
        return _METADATA_REASON
    if allow_private:
        return None
    for network, reason in _V4_BLOCKED:
        if addr in network:
            return reason
    return None if addr.is_global else "a non-public address"


def is_forbidden_ip(ip: str | IPAddress, *, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not be connected to (``"a private address"`` …), or None when it may.

    With ``allow_private`` (admin-configured endpoints) only cloud metadata addresses are
    refused.  A string that is not an IP address is refused (fail closed).
    """
    if isinstance(ip, str):
        try:
            addr: IPAddress = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return "not a valid IP address"
    else:
        addr = ip
    if isinstance(addr, ipaddress.IPv4Address):
        return _v4_reason(addr, allow_private)
    if addr.scope_id is not None:
        addr = ipaddress.IPv6Address(addr.packed)
    if addr in _METADATA_IPS:
        return _METADATA_REASON
    if not allow_private:
        for network, reason in _V6_BLOCKED[:2]:  # :: and ::1 sit inside ::/96 (compatible)
            if addr in network:
                return reason
    embedded = _embedded_v4(addr)
    if embedded is not None:
        kind, candidates, refused_for_users = embedded
        for v4 in candidates:
            reason = _v4_reason(v4, allow_private)
            if reason:
                return f"{kind} embedding {v4}, {reason}"
        return kind if refused_for_users and not allow_private else None
    if allow_private:
        return None
    for network, reason in _V6_BLOCKED:
        if addr in network:
            return reason
    if addr.is_reserved:
        return "a reserved address"
    return None if addr.is_global else "a non-public address"


def is_forbidden_host(name: str, *, allow_private: bool = False) -> str | None:
    """Why a host *name* is refused before any DNS lookup, or None.

    Metadata service names are refused always; local-only names (``localhost``, ``*.local``,
    ``*.internal`` …) only for users.  IP literals are checked with :func:`is_forbidden_ip`.
    """
    host = name.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    literal = _parse_ip_literal(host)
    if literal is not None:
        return is_forbidden_ip(literal, allow_private=allow_private)
    if host in _METADATA_NAMES:
        return "a cloud metadata service name"
    if not allow_private and any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        return "a local-only name"
    return None


# --- Host literals -----------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAME_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as glibc's ``inet_aton`` (and so ``getaddrinfo``) would, or None.

    1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last part fills the remaining
    bytes: ``127.1`` is 127.0.0.1, ``2130706433`` and ``0x7f000001`` too.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if part.startswith(("0x", "0X")):
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not part or not re.fullmatch(r"[0-9a-fA-F]*", digits) or (base != 16 and not digits.isdigit()):
            return None
        try:
            values.append(int(digits, base) if digits else 0)
        except ValueError:  # "08": 8 is not an octal digit
            return None
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _parse_ip_literal(host: str) -> IPAddress | None:
    """An IP address in any spelling the OS would accept, or None for names."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]) if ":" in host else _inet_aton(host)
    except ValueError:
        return None


def _looks_numeric(host: str) -> bool:
    # As in the WHATWG URL standard: a host whose last label is a number is an IPv4 address
    # (no TLD is numeric), so it must parse as one instead of going to DNS.
    return bool(_NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]))


# --- Save-time validation ----------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?")
_MAX_URL_LENGTH = 2048


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (the default :data:`Resolver`)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def validate_user_url(url: str, *, resolve: Resolver | None = None) -> str:
    """Check a user-supplied base URL; return it normalized, or raise :class:`UnsafeURLError`.

    Only http(s) URLs to public addresses pass: the host, or every address it resolves to,
    must pass :func:`is_forbidden_ip`.  The result has no trailing slash, a lower-case scheme
    and host, canonical IP literals and no default port.
    """
    return _validate(url, allow_private=False, resolve=resolve)


def validate_admin_url(url: str, *, resolve: Resolver | None = None) -> str:
    """Like :func:`validate_user_url` for admin-configured URLs: private and loopback hosts are
    fine, cloud metadata is not.  A name that does not resolve yet is accepted (the upstream may
    not be up while seeding); the connect-time guard checks it again."""
    return _validate(url, allow_private=True, resolve=resolve)


class _ParsedURL:
    def __init__(self, scheme: str, host: str, port: int | None, path: str, query: str, ip: IPAddress | None):
        self.scheme, self.host, self.port, self.path, self.query, self.ip = scheme, host, port, path, query, ip

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.scheme]

    def normalized(self) -> str:
        if isinstance(self.ip, ipaddress.IPv6Address):
            host = f"[{self.ip.compressed}]"
        else:
            host = str(self.ip) if self.ip is not None else self.host
        port = f":{self.port}" if self.port not in (None, _DEFAULT_PORTS[self.scheme]) else ""
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{host}{port}{self.path.rstrip('/')}{query}"


def _validate(url: str, *, allow_private: bool, resolve: Resolver | None) -> str:
    parsed = _parse_url(url)
    _check_destination(parsed, allow_private=allow_private, resolve=resolve or system_resolver)
    _check_client_agrees(url, parsed)
    return parsed.normalized()


def _parse_url(url: str) -> _ParsedURL:
    if not isinstance(url, str) or not url:
        raise UnsafeURLError("the URL is empty")
    if len(url) > _MAX_URL_LENGTH:
        raise UnsafeURLError(f"the URL is longer than {_MAX_URL_LENGTH} characters")
    if not url.isascii():
        raise UnsafeURLError("the URL must be ASCII: write host names in punycode (xn--…) and percent-encode paths")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeURLError("the URL must not contain whitespace or control characters")
    if "\\" in url:
        raise UnsafeURLError("the URL must not contain backslashes")
    if "#" in url:
        raise UnsafeURLError("the URL must not contain a fragment ('#')")
    if "@" in url:
        raise UnsafeURLError("the URL must not contain credentials or '@' (user@host)")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise UnsafeURLError("the URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"{scheme}:" if scheme else "a URL without a scheme"
        raise UnsafeURLError(f"only http:// and https:// URLs are allowed, not {shown}")
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if authority is None:
        raise UnsafeURLError("the URL's host or port is malformed")
    host = authority["host"].lower()
    if host in ("", "[]"):
        raise UnsafeURLError("the URL has no host")
    port = int(authority["port"]) if authority["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise UnsafeURLError("the port must be between 1 and 65535")
    ip = _parse_host(host)
    try:  # a second opinion on the authority
        agrees = parts.hostname == host.strip("[]") and parts.port == port
    except ValueError:
        agrees = False
    if not agrees:
        raise UnsafeURLError("the URL is ambiguous: parsers disagree about its host or port")
    return _ParsedURL(scheme, host, port, parts.path, parts.query, ip)


def _parse_host(host: str) -> IPAddress | None:
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise UnsafeURLError("IPv6 zone ids (%…) are not allowed in URLs")
        try:
            return ipaddress.IPv6Address(inner)
        except ValueError:
            raise UnsafeURLError(f"{host} is not a valid IPv6 address") from None
    if _looks_numeric(host):
        ip = _inet_aton(host.rstrip("."))
        if ip is None:
            raise UnsafeURLError(f"{host} looks like an IP address but is not a valid one")
        return ip
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in name.split(".")):
        raise UnsafeURLError(f"{host!r} is not a valid host name")
    return None


def _check_destination(parsed: _ParsedURL, *, allow_private: bool, resolve: Resolver) -> None:
    host = parsed.host
    if parsed.ip is not None:
        reason = is_forbidden_ip(parsed.ip, allow_private=allow_private)
        if reason is None:
            return
        canonical = parsed.ip.compressed
        if isinstance(parsed.ip, ipaddress.IPv6Address) or host == canonical:
            raise UnsafeURLError(f"{host.strip('[]')} is {reason}")
        raise UnsafeURLError(f"{host} means {canonical}, {reason}")
    reason = is_forbidden_host(host, allow_private=allow_private)
    if reason is not None:
        raise UnsafeURLError(f"{host} is {reason}")
    try:
        addresses = resolve(host, parsed.effective_port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        if allow_private:
            return
        raise UnsafeURLError(f"{host} could not be resolved; only names with public addresses are allowed")
    for address in addresses:
        reason = is_forbidden_ip(address, allow_private=allow_private)
        if reason is not None:
            raise UnsafeURLError(f"{host} resolves to {address}, {reason}")


def _check_client_agrees(url: str, parsed: _ParsedURL) -> None:
    """The HTTP client must read the same scheme, host and port as we checked."""
    try:
        client_url = httpx2.URL(url)
    except httpx2.InvalidURL:
        raise UnsafeURLError("the HTTP client cannot parse this URL") from None
    same = (
        client_url.scheme == parsed.scheme
        and client_url.raw_host.decode("ascii").lower() == parsed.host.strip("[]")
        and (client_url.port or _DEFAULT_PORTS[parsed.scheme]) == parsed.effective_port
    )
    if not same:
        raise UnsafeURLError("the URL is ambiguous: parsers disagree about its host or port")


# --- Connect-time enforcement ------------------------------------------------------------


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
        literal = _parse_ip_literal(host)
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


def make_guarded_client(
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    transport_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` on :func:`guarded_transport` that ignores proxy variables and
    does not follow redirects (a 3xx is returned as is).  Were a caller to follow one anyway,
    the next hop would be checked by the transport like any other connection."""
    for name in _CLIENT_BYPASSES:
        if name in kwargs:
            raise TypeError(f"make_guarded_client() does not take {name!r}: it would bypass the address guard")
    if kwargs.pop("trust_env", False) or kwargs.pop("follow_redirects", False):
        raise TypeError("make_guarded_client() never honours proxy variables or follows redirects")
    transport = guarded_transport(allow_private=allow_private, resolver=resolver, **(transport_options or {}))
    return httpx2.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, **kwargs)
