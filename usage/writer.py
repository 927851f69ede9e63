"""Usage rows written in batches: one writer task per event loop, one transaction per batch.

Every chat writes its row twice (pending before the upstream call, final after),
and a write through Django's async ORM is a thread hop plus a transaction.  The
writer takes whatever has queued up while the previous batch was being written
and commits it in one go, so under load the cost is shared by many requests;
with one request at a time it writes at once, adding no delay.

The order of submission is kept: a request's pending row is always written in
the same batch as its final values or an earlier one.  When both are in the
same batch they become one INSERT of the final row.  Finalizing stays a
conditional UPDATE (``status='pending'``), so a replay changes nothing.  Callers
await their item, so a request is complete only once its row is committed; a
graceful shutdown therefore loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction

from usage.models import Status, UsageRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Begin:
    request_id: str
    fields: dict[str, Any]


@dataclass(slots=True)
class _Finish:
    request_id: str
    fields: dict[str, Any]


@dataclass(slots=True)
class _Progress:
    """A pending row's running count (what was streamed so far); it stays pending."""

    request_id: str
    fields: dict[str, Any]


Item = _Begin | _Finish | _Progress


def _write(items: list[Item]) -> list[bool]:
    """Write a batch in one transaction; True for each finish that finalized its row.

    The hot paths are plain ASGI (``core.consumers``), so nothing else recycles this thread's
    database connection: like Django around a request, old or broken connections are closed
    before and after (``CONN_MAX_AGE``, ``CONN_HEALTH_CHECKS``)."""
    close_old_connections()
    try:
        return _write_batch(items)
    finally:
        close_old_connections()


def _write_batch(items: list[Item]) -> list[bool]:
    finishes = {item.request_id: item for item in items if isinstance(item, _Finish)}
    results: dict[int, bool] = {}
    with transaction.atomic():
        rows = []
        coalesced: set[str] = set()
        for item in items:
            if isinstance(item, _Begin):
                final = finishes.get(item.request_id)
                if final is not None and item.request_id not in coalesced:
                    coalesced.add(item.request_id)
                    rows.append(UsageRecord(request_id=item.request_id, **{**item.fields, **final.fields}))
                else:
                    rows.append(UsageRecord(request_id=item.request_id, **item.fields))
        if rows:
            UsageRecord.objects.bulk_create(rows, ignore_conflicts=True)
        for index, item in enumerate(items):
            if isinstance(item, _Progress):
                UsageRecord.objects.filter(request_id=item.request_id, status=Status.PENDING).update(**item.fields)
                continue
            if not isinstance(item, _Finish):
                continue
            if item.request_id in coalesced:
                coalesced.discard(item.request_id)  # the INSERT above was its finalization
                results[index] = True
                continue
            pending = UsageRecord.objects.filter(request_id=item.request_id, status=Status.PENDING)
            results[index] = pending.update(**item.fields) == 1
    return [results.get(index, False) for index in range(len(items))]


def _write_each(items: list[Item]) -> list[bool | BaseException]:
    """After a failed batch: each item on its own, so one bad row cannot sink the others."""
    outcome: list[bool | BaseException] = []
    for item in items:
        try:
            outcome.append(_write([item])[0])
        except Exception as exc:  # reported to that item's caller only
            outcome.append(exc)
    return outcome


class UsageWriter:
    def __init__(self) -> None:
        self._queue: list[tuple[Item, asyncio.Future[bool]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def submit(self, item: Item) -> asyncio.Future[bool]:
        """Queue an item now (keeping the order of calls); the future resolves once it is committed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        return future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            items = [item for item, _ in batch]
            try:
                results: list[bool | BaseException] = list(await sync_to_async(_write)(items))
            except Exception:
                log.warning("a usage batch of %d failed; writing its rows one by one", len(items), exc_info=True)
                results = await sync_to_async(_write_each)(items)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UsageWriter] = weakref.WeakKeyDictionary()


def writer() -> UsageWriter:
    loop = asyncio.get_running_loop()
    current = _writers.get(loop)
    if current is None:
        current = _writers[loop] = UsageWriter()
    return current


def submit_begin(request_id: str, fields: dict[str, Any]) -> asyncio.Future[bool]:
    return writer().submit(_Begin(request_id, fields))


def submit_finish(request_id: str, fields: dict[str, Any]) -> asyncio.Future[bool]:
    return writer().submit(_Finish(request_id, fields))


def submit_progress(request_id: str, fields: dict[str, Any]) -> asyncio.Future[bool]:
    return writer().submit(_Progress(request_id, fields))
