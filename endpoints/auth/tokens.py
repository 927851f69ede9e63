"""API tokens resolved through the shared cache, so an authenticated request
usually makes no database query.

A token's user is cached for a minute; deleting a token, or saving or
deleting its user, evicts it at once (signals in ``EndpointsConfig.ready``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from django.core.cache import cache

from core import memo
from core.caller import Caller, caller_from_user

TOKEN_TTL = 60
BAD_TOKEN_TTL = 5
#: How long a worker trusts what it read about a token: a token deleted (or a user
#: deactivated) in another process stops working here within this many seconds.
LOCAL_TTL = 5.0


def cache_key(key: str) -> str:
    return "auth:token:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def caller_for_token(key: str) -> Caller | None:
    local = memo.get(cache_key(key))
    if local is not memo.MISSING:
        return local
    cached = cache.get(cache_key(key))
    if cached is not None:
        caller = Caller(**cached) if cached else None
        memo.put(cache_key(key), caller, LOCAL_TTL if caller else BAD_TOKEN_TTL)
        return caller
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return _remember(key, token.user if token is not None else None)


async def acaller_for_token(key: str) -> Caller | None:
    local = memo.get(cache_key(key))
    if local is not memo.MISSING:
        return local
    cached = await cache.aget(cache_key(key))
    if cached is not None:
        caller = Caller(**cached) if cached else None
        memo.put(cache_key(key), caller, LOCAL_TTL if caller else BAD_TOKEN_TTL)
        return caller
    from rest_framework.authtoken.models import Token

    token = await Token.objects.select_related("user").filter(key=key).afirst()
    caller = caller_from_user(token.user) if token is not None and token.user.is_active else None
    await cache.aset(cache_key(key), asdict(caller) if caller else {}, timeout=TOKEN_TTL if caller else BAD_TOKEN_TTL)
    memo.put(cache_key(key), caller, LOCAL_TTL if caller else BAD_TOKEN_TTL)
    return caller


def _remember(key: str, user: Any) -> Caller | None:
    caller = caller_from_user(user) if user is not None and user.is_active else None
    cache.set(cache_key(key), asdict(caller) if caller else {}, timeout=TOKEN_TTL if caller else BAD_TOKEN_TTL)
    memo.put(cache_key(key), caller, LOCAL_TTL if caller else BAD_TOKEN_TTL)
    return caller


def forget(key: str) -> None:
    cache.delete(cache_key(key))
    memo.forget(cache_key(key))


def forget_user(user_id: int) -> None:
    from rest_framework.authtoken.models import Token

    for key in Token.objects.filter(user_id=user_id).values_list("key", flat=True):
        forget(key)
