"""Authentication for the channels consumers (chat over HTTP and WebSocket).

Tokens (``Authorization: Bearer|Token <key>``; on a WebSocket also the subprotocols ``bearer, <key>``,
never a URL parameter: URLs are logged) resolve through the shared
cache (``endpoints.auth.tokens``), so the hot path usually makes no query.  Browsers use their session; a
session-authenticated POST must come from our own origin (CSRF).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from core.caller import Caller, caller_from_user
from endpoints.auth.tokens import acaller_for_token

#: The WebSocket subprotocol that says the other one offered is the API token.
BEARER_PROTOCOL = "bearer"


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


async def _session_caller(scope: dict[str, Any]) -> Caller | None:
    if "session" not in scope:
        return None
    from channels.auth import get_user

    user = await get_user(scope)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return caller_from_user(user)


def _same_origin(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin") or _header(scope, b"referer")
    if not origin:
        return False
    host = _header(scope, b"host")
    netloc = urlsplit(origin).netloc
    trusted = {urlsplit(o).netloc for o in settings.CSRF_TRUSTED_ORIGINS}
    return netloc == host or netloc in trusted


def websocket_token(scope: dict[str, Any]) -> str | None:
    """The token offered as ``Sec-WebSocket-Protocol: bearer, <token>``."""
    offered = list(scope.get("subprotocols") or ())
    if BEARER_PROTOCOL in offered:
        rest = [item for item in offered if item != BEARER_PROTOCOL]
        return rest[0] if len(rest) == 1 else None
    return None


async def authenticate(scope: dict[str, Any], *, websocket: bool = False) -> tuple[Caller | None, str]:
    """(caller, how) where how is "token", "session" or the reason it failed."""
    header = _header(scope, b"authorization")
    if not header and websocket:
        # Browsers cannot set headers on a WebSocket: they offer the subprotocols "bearer" and the
        # token (never in the URL, which servers and proxies log).
        token = websocket_token(scope)
        header = f"Bearer {token}" if token else ""
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return None, "Send `Authorization: Bearer <token>`."
        caller = await acaller_for_token(key.strip())
        return (caller, "token") if caller else (None, "Invalid token.")
    caller = await _session_caller(scope)
    if caller is None:
        return None, "Authentication credentials were not provided."
    if not _same_origin(scope):
        return None, "A signed-in browser request must come from this site (CSRF check failed)."
    return caller, "session"
