"""Authentication for the channels consumers (chat over HTTP and WebSocket, the ``/v1`` gateway).

Tokens (``Authorization: Bearer|Token <key>``; on the gateway also ``x-api-key: <key>`` as
Anthropic's clients send it; on a WebSocket also the subprotocols ``bearer, <key>``, never a URL
parameter: URLs are logged) resolve through the shared cache (``endpoints.auth.tokens``), so the
hot path usually makes no query.  Browsers use their session; a session-authenticated POST must
come from our own origin (CSRF).

:func:`identify` is the gateway's: a service token may act for an end user named by the
request's headers (``endpoints.auth.endusers``).  :func:`authenticate` (``/api/chat``,
``/ws/chat/``) refuses those headers: acting for end users is a feature of the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from core.caller import Caller, caller_from_user
from core.errors import ApiError
from endpoints.auth import endusers
from endpoints.auth.tokens import atoken_for

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


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is from, and for."""

    caller: Caller  # whom the request is for: the end user a service token named, else the token's owner
    how: str  # "token" or "session"
    service: Caller | None = None  # a service token's owner: it may act for end users
    named: bool = False  # the headers named the end user (the body may not name another)


async def _principal(scope: dict[str, Any], *, websocket: bool, api_key_header: bool) -> tuple[Principal | None, str]:
    """(principal, how) where how is "token", "session" or the reason it failed."""
    header = _header(scope, b"authorization")
    if not header and api_key_header and (api_key := _header(scope, b"x-api-key").strip()):
        header = "Bearer " + api_key
    if not header and websocket:
        # Browsers cannot set headers on a WebSocket: they offer the subprotocols "bearer" and the
        # token (never in the URL, which servers and proxies log).
        token = websocket_token(scope)
        header = f"Bearer {token}" if token else ""
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return None, "Send `Authorization: Bearer <token>`."
        found = await atoken_for(key.strip())
        if found is None:
            return None, "Invalid token."
        owner, service = found
        return Principal(owner, "token", service=owner if service else None), "token"
    caller = await _session_caller(scope)
    if caller is None:
        return None, "Authentication credentials were not provided."
    if not _same_origin(scope):
        return None, "A signed-in browser request must come from this site (CSRF check failed)."
    return Principal(caller, "session"), "session"


async def identify(scope: dict[str, Any], *, api_key_header: bool = True) -> Principal:
    """The gateway's principal: the token's owner, or the end user its headers name (a service
    token's only).  Raises ``not_authenticated`` (401), ``permission_denied`` (403: a token that may
    not act for end users sent the headers) or ``invalid_request`` (headers that name nobody)."""
    principal, how = await _principal(scope, websocket=False, api_key_header=api_key_header)
    if principal is None:
        raise ApiError("not_authenticated", how, status=401, headers={"WWW-Authenticate": "Bearer"})
    names = endusers.header_names(scope)
    if not names:
        return principal
    if principal.service is None:
        raise endusers.not_a_service(names)
    ref = endusers.from_headers(scope)
    assert ref is not None  # the headers are there
    caller = await endusers.act_for(principal.service, ref)
    return Principal(caller, principal.how, service=principal.service, named=True)


async def authenticate(scope: dict[str, Any], *, websocket: bool = False) -> tuple[Caller | None, str]:
    """(caller, how) where how is "token", "session" or the reason it failed."""
    principal, how = await _principal(scope, websocket=websocket, api_key_header=False)
    if principal is None:
        return None, how
    if names := endusers.header_names(scope):
        return None, (f"{', '.join(names)}: acting for end users works on the /v1 gateway only, with a service "
                      "token; remove the header(s) here.")  # fmt: skip
    return principal.caller, how
