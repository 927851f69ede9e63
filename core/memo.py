"""A process-local memo in front of the shared cache, for the hottest reads of every
request (the config version, a token's user, the budget settings).

Each entry is trusted for a short time only; a change made in this process
drops the entry at once, a change made in another process is seen here when
the entry expires.  That bounds how stale a worker can be (see the TTLs where
entries are put) while saving a shared-cache round trip — a thread hop with
Django's cache API — on most requests.
"""

from __future__ import annotations

import time
from typing import Any

MISSING: Any = object()
MAX_ENTRIES = 50_000

_data: dict[str, tuple[float, Any]] = {}


def get(key: str) -> Any:
    entry = _data.get(key)
    if entry is None or entry[0] < time.monotonic():
        return MISSING
    return entry[1]


def put(key: str, value: Any, ttl: float) -> None:
    if len(_data) >= MAX_ENTRIES:
        _data.clear()  # crude but bounded: the shared cache still holds everything
    _data[key] = (time.monotonic() + ttl, value)


def forget(key: str) -> None:
    _data.pop(key, None)


def clear() -> None:
    _data.clear()
