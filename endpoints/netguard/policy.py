"""What an outbound connection may reach: the address and host-name policy.

User URLs may reach public unicast addresses only.  Admin URLs (``allow_private=True``) may reach
anything but cloud metadata services, which are refused always, including when an IPv6 address
embeds them (IPv4-mapped, NAT64, 6to4, Teredo …).  Host literals are read as the OS would:
``inet_aton`` accepts ``2130706433``, ``0x7f.1`` and ``0177.0.0.1`` for 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_REASON = "a cloud metadata address"
_METADATA_IPS = frozenset(
    ipaddress.ip_address(ip)
    for ip in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean … instance metadata
        "169.254.170.2",  # AWS ECS task metadata / credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent (credentials)
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "fd20:ce::254",  # Google Compute Engine metadata over IPv6
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
            inner = _v4_reason(v4, allow_private)
            if inner:
                return f"{kind} embedding {v4}, {inner}"
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
    literal = parse_ip_literal(host)
    if literal is not None:
        return is_forbidden_ip(literal, allow_private=allow_private)
    if host in _METADATA_NAMES:
        return "a cloud metadata service name"
    if not allow_private and any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        return "a local-only name"
    return None


# --- Host literals -----------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
NAME_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def inet_aton(host: str) -> ipaddress.IPv4Address | None:
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


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP address in any spelling the OS would accept, or None for names."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]) if ":" in host else inet_aton(host)
    except ValueError:
        return None


def looks_numeric(host: str) -> bool:
    # As in the WHATWG URL standard: a host whose last label is a number is an IPv4 address
    # (no TLD is numeric), so it must parse as one instead of going to DNS.
    return bool(_NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]))
