"""API tokens resolved through the shared cache, so an authenticated request
usually makes no database query.

Two kinds of key are accepted, both as ``Authorization: Bearer <key>`` (or ``Token <key>``):

* named personal tokens (``lcp_…``, :class:`endpoints.models.ApiToken`): only the SHA-256 of
  the key is stored; they may expire and be revoked (``endpoints.auth.personal``);
* DRF's ``authtoken`` keys (40 hex characters, one per user, ``manage.py drf_create_token``),
  kept working unchanged.

What a worker read about a token is cached for a minute in the shared cache and trusted
for :data:`LOCAL_TTL` seconds in the process-local memo, never past the token's expiry.
Revoking or deleting a token, or saving or deleting its user, evicts the shared entry at
once (signals in ``EndpointsConfig.ready``), so **a revoked token stops working within
LOCAL_TTL (5 s) on every worker**, and an expired one at its expiry.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import asdict
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from core import memo
from core.caller import Caller, caller_from_user

PERSONAL_PREFIX = "lcp_"
TOKEN_TTL = 60
BAD_TOKEN_TTL = 5
#: How long a worker trusts what it read about a token: a token revoked (or a user
#: deactivated) in another process stops working here within this many seconds.
LOCAL_TTL = 5.0

#: What the memo holds for a good key: the caller, the ApiToken id (None for a DRF token),
#: the moment it expires (epoch seconds, or None) and whether it is a service token (it may
#: act for end users: ``endpoints.auth.endusers``).
Entry = tuple[Caller, int | None, float | None, bool]


def key_hash(key: str) -> str:
    """What is stored of a personal token, and what names a key in the cache."""
    return hashlib.sha256(key.encode()).hexdigest()


def cache_key_for_hash(digest: str) -> str:
    return "auth:key:" + digest[:40]


def cache_key(key: str) -> str:
    return cache_key_for_hash(key_hash(key))


def _ttl(expires: float | None, longest: float) -> float:
    return longest if expires is None else max(0.0, min(longest, expires - time.time()))


def _from_cache(cached: dict[str, Any]) -> Entry | None:
    if not cached:
        return None
    return Caller(**cached["caller"]), cached.get("token"), cached.get("expires"), bool(cached.get("service"))


def _usable(entry: Entry | None) -> Entry | None:
    """None once the token has expired, whatever a cache still says."""
    if entry is None or (entry[2] is not None and entry[2] <= time.time()):
        return None
    return entry


def _remember(key: str, entry: Entry | None) -> Entry | None:
    """Put what the database said into the memo; return what to store in the shared cache."""
    if entry is None:
        memo.put(cache_key(key), None, BAD_TOKEN_TTL)
        return None
    memo.put(cache_key(key), entry, _ttl(entry[2], LOCAL_TTL))
    return entry


def _shared(entry: Entry | None) -> tuple[dict[str, Any], int]:
    """The shared cache's value and timeout (whole seconds; an expiry is checked on every read)."""
    if entry is None:
        return {}, BAD_TOKEN_TTL
    value = {"caller": asdict(entry[0]), "token": entry[1], "expires": entry[2], "service": entry[3]}
    return value, int(_ttl(entry[2], TOKEN_TTL))


def _lookup(key: str) -> Any:
    """The queryset that finds the key's row (a personal token or a DRF token)."""
    if key.startswith(PERSONAL_PREFIX):
        from endpoints.models import ApiToken

        return ApiToken.objects.select_related("user").filter(key_hash=key_hash(key), revoked_at__isnull=True)
    from rest_framework.authtoken.models import Token

    return Token.objects.select_related("user").filter(key=key)


def _entry(row: Any) -> Entry | None:
    if row is None or not row.user.is_active:
        return None
    expires_at = getattr(row, "expires_at", None)
    if expires_at is not None and expires_at <= timezone.now():
        return None
    token_id = row.pk if hasattr(row, "key_hash") else None
    service = getattr(row, "kind", "") == "service"  # TokenKind.SERVICE (models are not imported at module level)
    return caller_from_user(row.user), token_id, expires_at.timestamp() if expires_at else None, service


def _seen(entry: Entry | None) -> Caller | None:
    entry = _usable(entry)
    if entry is None:
        return None
    if entry[1] is not None:
        from endpoints.auth import lastused

        lastused.touch(entry[1])
    return entry[0]


def caller_for_token(key: str) -> Caller | None:
    local = memo.get(cache_key(key))
    if local is not memo.MISSING:
        return _seen(local)
    cached = cache.get(cache_key(key))
    if cached is not None:
        return _seen(_remember(key, _usable(_from_cache(cached))))
    entry = _remember(key, _entry(_lookup(key).first()))
    value, ttl = _shared(entry)
    if ttl > 0:
        cache.set(cache_key(key), value, timeout=ttl)
    return _seen(entry)


async def acaller_for_token(key: str) -> Caller | None:
    found = await atoken_for(key)
    return found[0] if found else None


async def atoken_for(key: str) -> tuple[Caller, bool] | None:
    """(the token's owner, whether it is a service token), or None for a bad key."""
    local = memo.get(cache_key(key))
    if local is not memo.MISSING:
        return await _aseen(local)
    cached = await cache.aget(cache_key(key))
    if cached is not None:
        return await _aseen(_remember(key, _usable(_from_cache(cached))))
    entry = _remember(key, _entry(await _lookup(key).afirst()))
    value, ttl = _shared(entry)
    if ttl > 0:
        await cache.aset(cache_key(key), value, timeout=ttl)
    return await _aseen(entry)


async def _aseen(entry: Entry | None) -> tuple[Caller, bool] | None:
    caller = _seen(entry)
    if caller is None or entry is None:
        return None
    if entry[1] is not None:
        from endpoints.auth import lastused

        if lastused.pending():
            lastused.flush_soon(asyncio.get_running_loop())
    return caller, entry[3]


def forget_hash(digest: str) -> None:
    cache.delete(cache_key_for_hash(digest))
    memo.forget(cache_key_for_hash(digest))


def forget(key: str) -> None:
    forget_hash(key_hash(key))


def forget_user(user_id: int) -> None:
    from rest_framework.authtoken.models import Token

    from endpoints.models import ApiToken

    for key in Token.objects.filter(user_id=user_id).values_list("key", flat=True):
        forget(key)
    for digest in ApiToken.objects.filter(user_id=user_id).values_list("key_hash", flat=True):
        forget_hash(digest)
