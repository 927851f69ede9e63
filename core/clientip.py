"""The client's IP: the connecting address, unless it is a trusted proxy, in which
case the nearest untrusted address of X-Forwarded-For (so a forged header earns nothing)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in settings.TRUSTED_PROXIES)


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client") or ("", 0)
    remote = str(client[0] or "")
    if not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    forwarded = ""
    for key, value in scope.get("headers", ()):
        if key == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):  # walk back from our proxy to the first untrusted hop
        if not _trusted(hop):
            return hop
    return hops[0] if hops else remote


def request_ip(meta: dict[str, Any]) -> str:
    """The same rule for a Django request's META."""
    scope = {
        "client": (meta.get("REMOTE_ADDR", ""), 0),
        "headers": [(b"x-forwarded-for", meta.get("HTTP_X_FORWARDED_FOR", "").encode())],
    }
    return client_ip(scope)
