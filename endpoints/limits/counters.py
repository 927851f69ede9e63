"""Counting in the shared cache: requests per fixed window (django-ratelimit) and tokens per window.

Request windows are django-ratelimit's fixed windows (``get_usage``: an atomic ``add`` then
``incr``, so N concurrent requests against a limit of L admit exactly L).  It wants a request
only for string keys and method filters, so with a callable key and a ``(limit, seconds)`` rate
we pass ``None``.  It is synchronous, and Django's async cache methods are one thread hop per
call anyway, so a check makes all its cache calls in one worker thread (:func:`in_thread`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django_ratelimit.core import get_usage

from core.sharedcache import CACHE_ERRORS, unavailable
from endpoints.limits.rules import Rule, exceeded

log = logging.getLogger(__name__)

GROUP = "limits.{}"  # django-ratelimit's group, per scope
TOKENS_KEY = "limits:tokens:{}:{}:{}:{}"  # scope, hashed name, window seconds, window end
EXPIRATION_FUDGE = 5  # seconds a token window outlives its end, as django-ratelimit's own

T = TypeVar("T")


def counter_cache() -> BaseCache:
    return caches[settings.RATELIMIT_USE_CACHE]


def _hashed(name: str) -> str:
    # Names (model ids) may hold spaces or be long: keep cache keys portable.
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _window_end(window: int, now: float) -> int:
    return (int(now) // window + 1) * window


def _tokens_key(rule: Rule, end: int) -> str:
    return TOKENS_KEY.format(rule.scope, _hashed(rule.name), rule.window, end)


def count_request(rule: Rule) -> None:
    """One more request in the rule's window (django-ratelimit); raise once over the limit."""
    for _attempt in range(2):
        usage = get_usage(None, group=GROUP.format(rule.scope), key=lambda group, request: rule.name,
                          rate=(rule.limit, rule.window), increment=True)  # fmt: skip
        if usage is None:  # RATELIMIT_ENABLE = False
            return
        if usage["limit"]:  # its {"limit": 0, "time_left": -1} means the counter could not be read
            break
    else:
        raise unavailable()
    if usage["should_limit"]:
        raise exceeded(rule, usage["time_left"])


def check_tokens(rules: list[Rule], cache: BaseCache) -> None:
    """Refuse when a token window already holds its limit."""
    if not rules:
        return
    now = time.time()
    keys = {rule: _tokens_key(rule, _window_end(rule.window, now)) for rule in rules}
    used = cache.get_many(list(keys.values()))
    for rule, key in keys.items():
        if int(used.get(key, 0)) >= rule.limit:
            raise exceeded(rule, _window_end(rule.window, now) - int(now))


def add_tokens(rules: list[Rule], tokens: int, cache: BaseCache) -> None:
    """Count tokens in the windows current now (when they were used)."""
    now = time.time()
    for rule in rules:
        key = _tokens_key(rule, _window_end(rule.window, now))
        cache.add(key, 0, rule.window + EXPIRATION_FUDGE)
        try:
            cache.incr(key, tokens)
        except ValueError:  # the window expired between add and incr: start the next one
            cache.add(key, tokens, rule.window + EXPIRATION_FUDGE)


# --- async side ---------------------------------------------------------------------------

_background: set[asyncio.Future[Any]] = set()  # strong references to fire-and-forget tasks


def keep(future: asyncio.Future[Any]) -> None:
    _background.add(future)
    future.add_done_callback(_background.discard)


async def in_thread(fn: Callable[..., T], *args: Any, orphan: Callable[[Any], Any] | None = None) -> T:
    """Run the cache calls in a worker thread; an unreachable cache -> 503 (fail closed).

    A client that disconnects meanwhile cancels us but not the thread: what the thread then took
    is handed to ``orphan`` (in a thread too) instead of waiting out its lease.  The in-process
    cache (the single-process default) never blocks, so its calls run right here, without the hop.
    """
    try:
        if isinstance(counter_cache(), LocMemCache):
            return fn(*args)
        task = asyncio.ensure_future(sync_to_async(fn, thread_sensitive=False)(*args))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if orphan is not None:
                task.add_done_callback(lambda done: _adopt(done, orphan))
            raise
    except CACHE_ERRORS as exc:
        log.warning("rate limits unavailable: %s: %s", type(exc).__name__, exc)
        raise unavailable() from None


def _adopt(task: asyncio.Future[Any], orphan: Callable[[Any], Any]) -> None:
    if task.cancelled() or task.exception() is not None or task.result() is None:
        return
    keep(asyncio.ensure_future(sync_to_async(orphan, thread_sensitive=False)(task.result())))
