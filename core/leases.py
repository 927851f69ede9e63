"""Leases renewed while they are held: what a chat holds in a shared store (a concurrency slot, a
budget reservation) carries an expiry, renewed every third of it while the chat runs, so what a
killed worker held lapses on its own within one lease."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

_background: set[asyncio.Future[Any]] = set()  # strong references to the renewal tasks


class Leased(Protocol):
    @property
    def held(self) -> bool: ...


def keep_renewed(holder: Leased, interval: float, renew: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Call ``renew()`` every ``interval`` seconds while ``holder.held``; cancel the task to stop."""
    task = asyncio.ensure_future(_renew(weakref.ref(holder), interval, renew))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def _renew(ref: weakref.ref[Any], interval: float, renew: Callable[[], Awaitable[None]]) -> None:
    # Only a weak reference between renewals: a holder dropped without settling (a bug) lets its
    # lease lapse instead of renewing it forever.
    while True:
        await asyncio.sleep(interval)
        holder = ref()
        held = holder is not None and holder.held
        del holder
        if not held:
            return
        try:
            await renew()
        except Exception:
            log.warning("could not renew a lease; it lapses unless a later renewal succeeds", exc_info=True)
