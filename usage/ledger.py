"""Recording usage: ``begin`` before the upstream call, ``finish`` exactly once.

``finish`` is a conditional UPDATE (``status='pending'`` in the WHERE): only the
first finalization of a request changes its row, so replays and retries add
nothing.  Rows are written by the batch writer (``usage.writer``); reading them
back is ``usage.reports``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.utils import timezone

from core.outcome import Outcome
from usage import writer
from usage.models import Status, UsageRecord

log = logging.getLogger(__name__)


def begin(*, request_id: str, user_id: int | None, via: str, endpoint: str, model: str,
          conversation_id: str) -> asyncio.Future[bool]:  # fmt: skip
    """Queue the pending row (written by the batch writer, in order); await the result to wait for it."""
    return writer.submit_begin(request_id, {
        "user_id": user_id, "via": via, "endpoint": endpoint[:100], "model": model[:255],
        "conversation_id": conversation_id[:200], "status": Status.PENDING,
    })  # fmt: skip


def _final_fields(outcome: Outcome, endpoint: str, model: str, conversation_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": outcome.status,
        "error_type": outcome.error_type[:40],
        "answered_endpoint": outcome.answered_endpoint[:100],
        "answered_model": outcome.answered_model[:255],
        "answered_deployment": outcome.answered_deployment[:100],
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cached_tokens": outcome.cached_tokens,
        "estimated": outcome.estimated,
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "ttft_ms": outcome.ttft_ms,
        "finished_at": timezone.now(),
    }
    if endpoint:
        fields["endpoint"] = endpoint[:100]
    if model:
        fields["model"] = model[:255]
    if conversation_id:
        fields["conversation_id"] = conversation_id[:200]
    return fields


async def finish(request_id: str, outcome: Outcome, *, endpoint: str = "", model: str = "",
                 conversation_id: str = "") -> bool:  # fmt: skip
    """Finalize the pending row; True only the first time (a conditional UPDATE).

    ``endpoint``, ``model`` and ``conversation_id`` fill what ``begin`` could not know yet.
    """
    return await writer.submit_finish(request_id, _final_fields(outcome, endpoint, model, conversation_id))


def finish_sync(request_id: str, outcome: Outcome, *, endpoint: str = "", model: str = "",
                conversation_id: str = "") -> bool:  # fmt: skip
    """:func:`finish` for sync code (threads, management commands)."""
    pending = UsageRecord.objects.filter(request_id=request_id, status=Status.PENDING)
    return pending.update(**_final_fields(outcome, endpoint, model, conversation_id)) == 1


def progress(request_id: str, so_far: Outcome) -> None:
    """Write a streaming chat's running count on its pending row (not awaited: the stream goes on).

    A worker that dies mid-chat leaves what it had streamed recorded, and charged when its budget
    holds lapse (``usage.budgets``) or ``reap_usage`` closes the row."""
    fields = {
        "answered_endpoint": so_far.answered_endpoint[:100],
        "answered_model": so_far.answered_model[:255],
        "answered_deployment": so_far.answered_deployment[:100],
        "prompt_tokens": so_far.prompt_tokens,
        "completion_tokens": so_far.completion_tokens,
        "cached_tokens": so_far.cached_tokens,
        "estimated": so_far.estimated,
        "cost_usd": so_far.cost_usd,
        "progressed_at": timezone.now(),
    }
    writer.submit_progress(request_id, fields).add_done_callback(_quiet)


def _quiet(future: asyncio.Future[bool]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a usage row's running count could not be written", exc_info=future.exception())
