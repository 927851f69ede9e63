"""Authentication for the channels consumers (chat over HTTP and WebSocket).

Tokens (``Authorization: Bearer|Token <key>``) are looked up once and cached
in the shared cache for a minute (deleted tokens are evicted by a signal), so
the hot path usually makes no query.  Browsers use their session; a
session-authenticated POST must come from our own origin (CSRF).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from .chat import Caller

TOKEN_TTL = 60


def token_cache_key(key: str) -> str:
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


async def _token_caller(key: str) -> Caller | None:
    cache_key = token_cache_key(key)
    cached = await cache.aget(cache_key)
    if cached is not None:
        return Caller(**cached) if cached else None
    from rest_framework.authtoken.models import Token

    token = await Token.objects.select_related("user").filter(key=key).afirst()
    user = token.user if token is not None else None
    if user is None or not user.is_active:
        await cache.aset(cache_key, {}, timeout=5)  # a bad token: remember briefly
        return None
    caller = Caller(id=user.pk, username=user.get_username(), email=user.email or "", is_staff=user.is_staff)
    await cache.aset(
        cache_key,
        {"id": caller.id, "username": caller.username, "email": caller.email, "is_staff": caller.is_staff},
        timeout=TOKEN_TTL,
    )
    return caller


async def _session_caller(scope: dict[str, Any]) -> Caller | None:
    if "session" not in scope:
        return None
    from channels.auth import get_user

    user = await get_user(scope)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return Caller(id=user.pk, username=user.get_username(), email=user.email or "", is_staff=user.is_staff)


def _same_origin(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin") or _header(scope, b"referer")
    if not origin:
        return False
    host = _header(scope, b"host")
    netloc = urlsplit(origin).netloc
    trusted = {urlsplit(o).netloc for o in settings.CSRF_TRUSTED_ORIGINS}
    return netloc == host or netloc in trusted


async def authenticate(scope: dict[str, Any], *, websocket: bool = False) -> tuple[Caller | None, str]:
    """(caller, how) where how is "token", "session" or the reason it failed."""
    header = _header(scope, b"authorization")
    if not header and websocket:
        # Browsers cannot set headers on a WebSocket; other clients may send ?token=.
        query = parse_qs(scope.get("query_string", b"").decode())
        header = "Bearer " + query["token"][0] if query.get("token") else ""
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return None, "Send `Authorization: Bearer <token>`."
        caller = await _token_caller(key.strip())
        return (caller, "token") if caller else (None, "Invalid token.")
    caller = await _session_caller(scope)
    if caller is None:
        return None, "Authentication credentials were not provided."
    if not _same_origin(scope):
        return None, "A signed-in browser request must come from this site (CSRF check failed)."
    return caller, "session"


def forget_token(key: str) -> None:
    cache.delete(token_cache_key(key))


aforget_token = sync_to_async(forget_token)
