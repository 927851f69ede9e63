"""Rate limits and concurrency caps (CONTRACT §8).

Before a chat goes upstream, :func:`admit` takes, in LibreChat's order: a concurrency slot for
the user; a look at the endpoint's and model's token windows (refused once the tokens recorded
in the current window reach ``rateLimit.tokens``); one count in each request window that
applies (per client IP, per user, per endpoint, per model).  :func:`admit_fallback` holds a
fallback target to its own endpoint and model limits.  The chat settles each admission exactly
once: the slot is released and the tokens used are added to the windows of what answered.

Everything is counted in the shared cache (``RATELIMIT_USE_CACHE``: Redis when ``REDIS_URL`` is
set), so every worker process agrees.  Request windows are django-ratelimit's fixed windows
(``get_usage``: an atomic ``add`` then ``incr``, so N concurrent requests against a limit of L
admit exactly L).  It wants a request only for string keys and method filters, so with a
callable key and a ``(limit, seconds)`` rate we pass ``None``.  It is synchronous, and Django's
async cache methods are one thread hop per call anyway, so an admission (or a settle) makes all
its cache calls in one worker thread.  An unreachable cache answers 503 (fail closed).

A slot is a cache key per slot number taken with an atomic ``add`` and a TTL of
``CONCURRENT_LEASE_SECONDS``, renewed while the chat runs, deleted by ``settle``: a worker
killed mid-chat leaves keys that expire on their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django_ratelimit.core import get_usage
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.errors import ApiError

if TYPE_CHECKING:
    from endpoints.catalog.snapshot import EndpointInfo, Snapshot
    from endpoints.chat.session import ChatSession
    from usage.ledger import Outcome

log = logging.getLogger(__name__)

#: What a cache backend raises when it cannot be reached: django-redis re-raises redis-py's
#: errors (ConnectionInterrupted when wrapped), plain sockets raise OSError.
CACHE_ERRORS: tuple[type[Exception], ...] = (OSError, RedisError, ConnectionInterrupted)

GROUP = "limits.{}"  # django-ratelimit's group, per scope
TOKENS_KEY = "limits:tokens:{}:{}:{}:{}"  # scope, hashed name, window seconds, window end
SLOT_KEY = "limits:concurrent:{}:{}"  # user id, slot number
EXPIRATION_FUDGE = 5  # seconds a token window outlives its end, as django-ratelimit's own

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rule:
    """``limit`` requests (or tokens) per ``window`` seconds for ``name`` within ``scope``."""

    scope: str  # "ip", "user", "endpoint" or "model"
    name: str  # the client IP, the user id, the endpoint name, or "endpoint/model"
    limit: int
    window: int
    unit: str = "requests"  # or "tokens"


# --- which rules apply ------------------------------------------------------------------


def ip_key(address: str) -> str:
    """The bucket of a client address: IPv6 clients own a whole /64, as in django-ratelimit."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        mask = getattr(settings, "RATELIMIT_IPV6_MASK", 64)
        return str(ipaddress.ip_network(f"{ip}/{mask}", strict=False).network_address)
    return str(ip)


def session_rules(session: ChatSession) -> list[Rule]:
    """LibreChat's message limiters (windows in minutes, as LibreChat's variables)."""
    rules = []
    if settings.LIMIT_MESSAGE_IP:
        rules.append(Rule("ip", ip_key(session.client_ip), settings.MESSAGE_IP_MAX, settings.MESSAGE_IP_WINDOW * 60))
    if settings.LIMIT_MESSAGE_USER:
        rules.append(Rule("user", str(session.caller.id), settings.MESSAGE_USER_MAX, settings.MESSAGE_USER_WINDOW * 60))
    return rules


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def configured_rules(scope: str, name: str, spec: Any) -> list[Rule]:
    """A ``rateLimit`` mapping as rules; admin-edited JSON that makes no sense limits nothing."""
    if not isinstance(spec, dict):
        return []
    window = _positive(spec.get("windowSeconds", 60))
    if window is None:
        log.warning("ignoring the rateLimit of %s %s: windowSeconds is not a positive integer", scope, name)
        return []
    rules = []
    for unit in ("requests", "tokens"):
        limit = _positive(spec.get(unit))
        if limit is not None:
            rules.append(Rule(scope, name, limit, window, unit))
    return rules


def target_rules(endpoint: EndpointInfo, model_id: str) -> list[Rule]:
    """The endpoint's ``rateLimit``, then the model item's."""
    rules = configured_rules("endpoint", endpoint.name, endpoint.rate_limit)
    model = endpoint.model(model_id)
    if model is not None:
        rules += configured_rules("model", f"{endpoint.name}/{model_id}", model.rate_limit)
    return rules


# --- errors -----------------------------------------------------------------------------


def _span(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


def exceeded(rule: Rule, retry_after: int) -> ApiError:
    seconds = max(1, retry_after)
    who = {
        "ip": "from your address",
        "user": "from your account",
        "endpoint": f"for the endpoint {rule.name!r}",
        "model": f"for the model {rule.name!r}",
    }[rule.scope]
    message = (
        f"Too many {rule.unit} {who}: the limit is {rule.limit} {rule.unit} per {_span(rule.window)}. "
        f"Try again in {seconds} s."
    )
    context: dict[str, Any] = {"limit": rule.limit, "window_seconds": rule.window, "scope": rule.scope,
                               "unit": rule.unit}  # fmt: skip
    if rule.scope == "endpoint":
        context["endpoint"] = rule.name
    elif rule.scope == "model":
        context["endpoint"], context["model"] = rule.name.split("/", 1)
    return ApiError("rate_limit_exceeded", message, status=429, headers={"Retry-After": str(seconds)}, **context)


def concurrent_limit(maximum: int) -> ApiError:
    return ApiError(
        "concurrent_limit",
        f"Only {maximum} message(s) at a time: wait for an answer to finish (or stop it), then send again.",
        status=429,
        limit=maximum,
    )


def unavailable() -> ApiError:
    return ApiError(
        "rate_limit_unavailable",
        "The rate limits cannot be checked right now (their shared store is unreachable), so the request "
        "was refused. Try again shortly.",
        status=503,
    )


# --- counting (synchronous: runs in a worker thread) ------------------------------------------


def _cache() -> BaseCache:
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


@dataclass(slots=True)
class Lease:
    """A concurrency slot: ``key`` holds ``id`` until released or ``ttl`` seconds pass unrenewed."""

    key: str
    id: str
    ttl: int


SLOT_SCAN = 16  # slot keys read per round trip (a few chats open is the common case)


def take_slot(user_id: int, maximum: int, ttl: int, cache: BaseCache) -> Lease | None:
    """The first free slot of the user's ``maximum``, read a chunk at a time (so a high
    maximum costs nothing until that many chats are open)."""
    for start in range(0, maximum, SLOT_SCAN):
        keys = [SLOT_KEY.format(user_id, number) for number in range(start, min(start + SLOT_SCAN, maximum))]
        taken = cache.get_many(keys)
        for key in keys:
            if key not in taken:
                lease = Lease(key, uuid.uuid4().hex, ttl)
                if cache.add(key, lease.id, ttl):  # atomic: of two chats racing for a slot, one wins
                    return lease
    return None


def renew(lease: Lease, cache: BaseCache) -> None:
    current = cache.get(lease.key)
    if current == lease.id:
        cache.touch(lease.key, lease.ttl)
    elif current is None:  # it lapsed (the renewals were starved): take it back if still free
        cache.add(lease.key, lease.id, lease.ttl)


def release(lease: Lease, cache: BaseCache) -> None:
    if cache.get(lease.key) == lease.id:  # never free a slot that lapsed and went to another chat
        cache.delete(lease.key)


def _admit(user_id: int | None, rules: list[Rule]) -> Lease | None:
    cache = _cache()
    lease = None
    if user_id is not None:
        maximum = settings.CONCURRENT_MESSAGE_MAX
        lease = take_slot(user_id, maximum, settings.CONCURRENT_LEASE_SECONDS, cache)
        if lease is None:
            raise concurrent_limit(maximum)
    try:
        check_tokens([rule for rule in rules if rule.unit == "tokens"], cache)
        for rule in rules:
            if rule.unit == "requests":
                count_request(rule)
    except BaseException:
        if lease is not None:
            with suppress(*CACHE_ERRORS):  # if the cache is down, the slot lapses on its own
                release(lease, cache)
        raise
    return lease


def _settle(lease: Lease | None, rules: list[Rule], tokens: int) -> None:
    cache = _cache()
    try:
        if rules:
            add_tokens(rules, tokens, cache)
    finally:
        if lease is not None:
            release(lease, cache)


# --- async side ---------------------------------------------------------------------------

_background: set[asyncio.Future[Any]] = set()  # strong references to fire-and-forget tasks


def _keep(future: asyncio.Future[Any]) -> None:
    _background.add(future)
    future.add_done_callback(_background.discard)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run the cache calls in a worker thread; unreachable cache -> 503.

    A client that disconnects meanwhile cancels us but not the thread: a slot it took then is
    released when it finishes, instead of waiting out its lease.  The in-process cache (the
    single-process default) never blocks, so its calls run right here, without the hop.
    """
    if isinstance(_cache(), LocMemCache):
        return fn(*args)
    task = asyncio.ensure_future(sync_to_async(fn, thread_sensitive=False)(*args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_release_orphan)
        raise
    except CACHE_ERRORS as exc:
        log.warning("rate limits unavailable: %s: %s", type(exc).__name__, exc)
        raise unavailable() from None


def _release_orphan(task: asyncio.Future[Any]) -> None:
    if task.cancelled() or task.exception() is not None or not isinstance(task.result(), Lease):
        return
    _keep(asyncio.ensure_future(sync_to_async(_settle, thread_sensitive=False)(task.result(), [], 0)))


class Held:
    """What an admitted chat holds: maybe a slot, and the token windows its usage counts in."""

    def __init__(self, lease: Lease | None, token_rules: list[Rule], target: tuple[str, str]) -> None:
        self.lease = lease
        self.token_rules = token_rules
        self.target = target  # (endpoint, model) whose answers these token windows count
        self._renewal: asyncio.Task[None] | None = None
        if lease is not None:
            self._renewal = asyncio.ensure_future(_renew_while_held(weakref.ref(self), lease.ttl / 3))
            _keep(self._renewal)

    def __repr__(self) -> str:
        return f"<Held lease={self.lease.key if self.lease else None} target={self.target}>"

    async def settle(self, outcome: Outcome) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
        lease, self.lease = self.lease, None
        tokens = outcome.prompt_tokens + outcome.completion_tokens
        answered = (outcome.answered_endpoint, outcome.answered_model) == self.target
        rules = self.token_rules if answered and tokens > 0 else []
        if lease is None and not rules:
            return
        try:
            await sync_to_async(_settle, thread_sensitive=False)(lease, rules, tokens)
        except CACHE_ERRORS as exc:
            log.warning("could not settle the limits (%s); a held slot lapses by itself", type(exc).__name__)


async def _renew_while_held(ref: weakref.ref[Held], interval: float) -> None:
    # Only a weak reference between renewals: a session dropped without settling (a bug) lets its
    # lease lapse instead of renewing it forever.
    while True:
        await asyncio.sleep(interval)
        held = ref()
        lease = held.lease if held is not None else None
        del held
        if lease is None:
            return
        try:
            await sync_to_async(renew, thread_sensitive=False)(lease, _cache())
        except CACHE_ERRORS as exc:
            log.warning("could not renew a concurrency slot: %s", type(exc).__name__)


async def admit(session: ChatSession, snapshot: Snapshot) -> Held | None:
    """Raise ApiError (rate_limit_exceeded, concurrent_limit, rate_limit_unavailable) or admit."""
    call = session.call
    assert call is not None
    endpoint = snapshot.get(call.endpoint)
    targets = target_rules(endpoint, call.model) if endpoint is not None else []
    rules = session_rules(session) + targets
    user_id = session.caller.id if settings.LIMIT_CONCURRENT_MESSAGES else None
    if not rules and user_id is None:
        return None
    lease = await _in_thread(_admit, user_id, rules)
    token_rules = [rule for rule in targets if rule.unit == "tokens"]
    if lease is None and not token_rules:
        return None
    return Held(lease, token_rules, (call.endpoint, call.model))


async def admit_fallback(session: ChatSession, snapshot: Snapshot, endpoint_name: str, model_id: str) -> Held | None:
    """The endpoint and model limits of a fallback target (the chat already holds its slot)."""
    endpoint = snapshot.get(endpoint_name)
    rules = target_rules(endpoint, model_id) if endpoint is not None else []
    if not rules:
        return None
    await _in_thread(_admit, None, rules)
    token_rules = [rule for rule in rules if rule.unit == "tokens"]
    return Held(None, token_rules, (endpoint_name, model_id)) if token_rules else None
