"""The shared health of each deployment, in the shared cache (every worker reads the same).

Keys, by the SHA-256 of the deployment's ``endpoint/model/name`` (names may hold anything):

==========================  =====================================================================
``routing:down:<d>``        the cooldown: ``{until, since, kind, auth, message}``; kept past
                            ``until`` (half-open: one probe may go) until a success deletes it
``routing:probe:<d>:<u>``   the half-open probe of the cooldown ending at ``u``: taken with an
                            atomic ``add``, so one request of all workers probes it
``routing:fails:<d>:<w>``   failures in the fixed window ending at ``w``
``routing:busy:<d>``        streams open on the deployment now (least busy)
``routing:ttft:<d>``        moving average of time to first token, seconds (lowest latency)
``routing:last:<d>``        the last failure: ``{kind, at, message}``
``routing:errs:<d>:<m>``    failures in minute ``m`` (error rates on the health page)
==========================  =====================================================================

Plain functions over Django's cache API (synchronous: :func:`call` runs them off the event loop
when the cache is Redis).  Health is advice: when the cache cannot be reached, routing carries on
as if every deployment were healthy (the limits, which must not, fail closed on their own).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from core.sharedcache import CACHE_ERRORS
from endpoints.catalog.deployments import Policy

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a cooldown is remembered past its end when no request comes to probe it.
HALF_OPEN_KEEP = 3600
#: Streams open on a deployment are forgotten after this long without a new one (a killed worker's).
BUSY_SECONDS = 900
#: A lowest-latency average older than this is forgotten, so a deployment once slow is measured again.
TTFT_SECONDS = 300
TTFT_WEIGHT = 0.3  # of the newest sample in the moving average
LAST_SECONDS = 7 * 24 * 3600
ERRORS_SECONDS = 3700  # per-minute failure counts: the page's hour, and a little more
#: How long a Retry-After may cool a deployment down (a provider asking for a day is asking too much).
MAX_RETRY_AFTER = 3600


@dataclass(frozen=True, slots=True)
class Health:
    down: dict[str, Any] | None = None
    busy: int = 0
    ttft: float | None = None
    auth: dict[str, Any] | None = None  # its key was refused lately (it may still be picked: see record_failure)

    def state(self, now: float) -> str:
        """healthy, cooling_down, half_open or failing_auth."""
        if self.down is None:
            return "failing_auth" if self.auth else "healthy"
        if self.down.get("until", 0) > now:
            return "failing_auth" if self.down.get("auth") else "cooling_down"
        return "half_open"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def down_key(key: str) -> str:
    return f"routing:down:{digest(key)}"


def busy_key(key: str) -> str:
    return f"routing:busy:{digest(key)}"


def ttft_key(key: str) -> str:
    return f"routing:ttft:{digest(key)}"


def auth_key(key: str) -> str:
    return f"routing:auth:{digest(key)}"


def last_key(key: str) -> str:
    return f"routing:last:{digest(key)}"


def errors_key(key: str, minute: int) -> str:
    return f"routing:errs:{digest(key)}:{minute}"


async def call(fn: Callable[..., T], *args: Any, default: T) -> T:
    """``fn(*args)`` off the event loop (in place with the in-process cache, which never blocks);
    ``default`` when the cache cannot be reached."""
    try:
        if isinstance(caches["default"], LocMemCache):
            return fn(*args)
        return await sync_to_async(fn, thread_sensitive=False)(*args)
    except CACHE_ERRORS as exc:
        log.warning("routing health unavailable (%s: %s); every deployment counts as healthy",
                    type(exc).__name__, exc)  # fmt: skip
        return default


def read(keys: Iterable[str], busy: bool = False, ttft: bool = False) -> list[Health]:
    """The health of these deployments, in one round trip."""
    keys = list(keys)
    wanted = [down_key(k) for k in keys] + [auth_key(k) for k in keys]
    if busy:
        wanted += [busy_key(k) for k in keys]
    if ttft:
        wanted += [ttft_key(k) for k in keys]
    found = cache.get_many(wanted)
    return [
        Health(
            down=found.get(down_key(k)),
            busy=max(0, int(found.get(busy_key(k), 0) or 0)) if busy else 0,
            ttft=found.get(ttft_key(k)) if ttft else None,
            auth=found.get(auth_key(k)),
        )
        for k in keys
    ]


def cool(key: str, seconds: float, kind: str, message: str, *, auth: bool = False) -> dict[str, Any]:
    now = time.time()
    record = {"until": now + seconds, "since": now, "kind": kind, "auth": auth, "message": message}
    cache.set(down_key(key), record, int(seconds) + HALF_OPEN_KEEP)
    return record


def _count(key: str, seconds: int) -> int:
    cache.add(key, 0, seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, seconds)
        return 1


def record_failure(key: str, policy: Policy, kind: str, message: str, retry_after: float | None = None,
                   probe: bool = False, alone: bool = False) -> dict[str, Any] | None:  # fmt: skip
    """Count a failure of the deployment; the cooldown record when it now cools down.

    A wrong key (``invalid_api_key``) is marked (``failing_auth``, until a success) and cools the
    deployment down at once, for ``authCooldownSeconds``, unless it is its model's only one (then
    the client hears ``invalid_api_key`` from the provider, as without routing, and a wrong key
    never sends a chat to the fallbacks, which are for failures, not refusals); a 429
    with ``Retry-After`` at once, for that long; a failed probe at once, for ``cooldownSeconds``;
    anything else when the window holds more than ``allowedFails``."""
    now = time.time()
    cache.set(last_key(key), {"kind": kind, "at": now, "message": message}, LAST_SECONDS)
    _count(errors_key(key, int(now // 60)), ERRORS_SECONDS)
    if not policy.cooldowns and kind != "invalid_api_key":
        return None
    if kind == "invalid_api_key":
        cache.set(auth_key(key), {"at": now, "message": message}, policy.auth_cooldown_seconds)
        return None if alone else cool(key, policy.auth_cooldown_seconds, kind, message, auth=True)
    if kind == "upstream_rate_limited" and retry_after:
        return cool(key, min(max(retry_after, 1.0), MAX_RETRY_AFTER), kind, message)
    if probe:
        return cool(key, policy.cooldown_seconds, kind, message)
    window = policy.window_seconds
    fails = f"routing:fails:{digest(key)}:{(int(now) // window + 1) * window}"
    if _count(fails, window + 5) > policy.allowed_fails:
        cache.delete(fails)  # after the cooldown, the count starts again
        return cool(key, policy.cooldown_seconds, kind, message)
    return None


def take_probe(key: str, until: float, lease: float) -> bool:
    """The half-open probe of the cooldown ending at ``until``: True for one caller of all."""
    return bool(cache.add(f"routing:probe:{digest(key)}:{int(until * 1000)}", 1, max(1, int(lease))))


def recovered(key: str) -> None:
    """The deployment answered: its cooldown (if any) is over, on every worker."""
    cache.delete_many([down_key(key), auth_key(key)])


def add_busy(key: str, delta: int) -> None:
    name = busy_key(key)
    if delta > 0:
        cache.add(name, 0, BUSY_SECONDS)
        try:
            cache.incr(name, delta)
        except ValueError:
            cache.add(name, delta, BUSY_SECONDS)
        cache.touch(name, BUSY_SECONDS)
        return
    try:
        cache.decr(name, -delta)
    except ValueError:
        pass  # forgotten meanwhile: nothing to give back


def note_ttft(key: str, previous: float | None, seconds: float) -> None:
    value = seconds if previous is None else previous * (1 - TTFT_WEIGHT) + seconds * TTFT_WEIGHT
    cache.set(ttft_key(key), value, TTFT_SECONDS)


def details(keys: list[str], minutes: int = 60) -> dict[str, dict[str, Any]]:
    """For the health page: each deployment's cooldown, open streams, last failure and failures
    per minute over the last ``minutes`` (oldest first), in one round trip."""
    now_minute = int(time.time() // 60)
    wanted: list[str] = []
    for k in keys:
        wanted += [down_key(k), busy_key(k), ttft_key(k), last_key(k), auth_key(k)]
        wanted += [errors_key(k, now_minute - n) for n in range(minutes)]
    found = cache.get_many(wanted)
    return {
        k: {
            "down": found.get(down_key(k)),
            "busy": max(0, int(found.get(busy_key(k), 0) or 0)),
            "ttft": found.get(ttft_key(k)),
            "last": found.get(last_key(k)),
            "auth": found.get(auth_key(k)),
            "errors": [int(found.get(errors_key(k, now_minute - n), 0)) for n in reversed(range(minutes))],
        }
        for k in keys
    }
