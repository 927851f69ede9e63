"""``ApiToken.last_used_at``, written at most once a minute per token and worker, never on the
response path.

Authenticating a personal token only notes the moment in this process (:func:`touch`); the
row is updated later: after a Django response has been sent (``request_finished``, see
``EndpointsConfig.ready``), or by a task beside the response on the event loop of a
channels consumer (:func:`flush_soon`), which the request does not wait for.  A worker
that dies loses at most a minute of "last used".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime

from asgiref.sync import sync_to_async
from django.utils import timezone

log = logging.getLogger(__name__)

#: At most one write per token and worker in this many seconds.
TOUCH_SECONDS = 60.0

_lock = threading.Lock()
_touched: dict[int, float] = {}  # token id -> monotonic time of the last noted use
_pending: dict[int, datetime] = {}  # token id -> when it was used, not yet written
_tasks: set[asyncio.Task[None]] = set()


def touch(token_id: int) -> None:
    now = time.monotonic()
    if now - _touched.get(token_id, -TOUCH_SECONDS) < TOUCH_SECONDS:
        return
    with _lock:
        _touched[token_id] = now
        _pending[token_id] = timezone.now()


def pending() -> bool:
    return bool(_pending)


def flush() -> int:
    """Write what is pending; the number of tokens written."""
    if not _pending:
        return 0
    with _lock:
        items = list(_pending.items())
        _pending.clear()
    from endpoints.models import ApiToken

    for token_id, when in items:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=when)
    return len(items)


async def _aflush() -> None:
    try:
        await sync_to_async(flush)()
    except Exception:  # the row may be gone, the database busy: "last used" is not worth an error
        log.warning("could not record when API tokens were last used", exc_info=True)


def flush_soon(loop: asyncio.AbstractEventLoop) -> None:
    """Write what is pending in a task of ``loop`` that nobody waits for."""
    task = loop.create_task(_aflush())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def on_request_finished(**_kwargs: object) -> None:
    try:
        flush()
    except Exception:  # as in _aflush
        log.warning("could not record when API tokens were last used", exc_info=True)


def reset() -> None:
    """Forget what this process noted (tests)."""
    with _lock:
        _touched.clear()
        _pending.clear()
