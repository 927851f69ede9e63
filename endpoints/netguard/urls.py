"""Save-time checks of base URLs: strict parsing, then the address policy on every answer."""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Callable

import httpx2

from endpoints.netguard.policy import (
    NAME_LABEL,
    IPAddress,
    inet_aton,
    is_forbidden_host,
    is_forbidden_ip,
    looks_numeric,
)

#: ``resolver(host, port) -> [ip, …]``: every address the name resolves to, as strings.
Resolver = Callable[[str, int], list[str]]


class UnsafeURLError(ValueError):
    """A base URL is malformed or may reach an address it must not; the message says why."""


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
    if looks_numeric(host):
        ip = inet_aton(host.rstrip("."))
        if ip is None:
            raise UnsafeURLError(f"{host} looks like an IP address but is not a valid one")
        return ip
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(NAME_LABEL.fullmatch(label) for label in name.split(".")):
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
