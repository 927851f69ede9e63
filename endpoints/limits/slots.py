"""Concurrency slots: leases in the shared cache, renewed while a chat runs.

A slot is a cache key per slot number taken with an atomic ``add`` and a TTL of
``CONCURRENT_LEASE_SECONDS``, renewed every third of it while the chat runs and deleted when it
settles: a worker killed mid-chat leaves keys that expire on their own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import partial

from django.core.cache import BaseCache

from core.errors import ApiError
from core.leases import keep_renewed
from core.outcome import Outcome
from endpoints.limits.counters import counter_cache, in_thread

log = logging.getLogger(__name__)

SLOT_KEY = "limits:concurrent:{}:{}"  # user id, slot number


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


def release_in_thread(lease: Lease) -> None:
    release(lease, counter_cache())


def renew_in_thread(lease: Lease) -> None:
    renew(lease, counter_cache())


class SlotHold:
    """A chat's concurrency slot: renewed until settled, then released."""

    per_target = False  # one slot per request, whichever target answers

    def __init__(self, lease: Lease) -> None:
        self.lease: Lease | None = lease
        self._renewal = keep_renewed(self, lease.ttl / 3, partial(in_thread, renew_in_thread, lease))

    @property
    def held(self) -> bool:
        return self.lease is not None

    def __repr__(self) -> str:
        return f"<SlotHold {self.lease.key if self.lease else 'released'}>"

    async def settle(self, outcome: Outcome) -> None:
        self._renewal.cancel()
        lease, self.lease = self.lease, None
        if lease is None:
            return
        try:
            await in_thread(release_in_thread, lease)
        except ApiError:
            log.warning("could not release a concurrency slot; it lapses by itself")
