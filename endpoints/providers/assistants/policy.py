"""Who may run what on an assistants endpoint, checked before a run starts (LibreChat's
``validateAssistant`` and ``validateAuthor``), and the threads each user owns.

A thread id is unguessable but not secret (it travels in events and logs), so a chat that
names a ``thread_id`` started by someone else is refused.  Threads created elsewhere (in
OpenAI's playground, say) have no owner here and may be continued, as LibreChat allows.
"""

from __future__ import annotations

from typing import Any

from core.caller import Caller
from core.errors import ApiError
from endpoints.models import AssistantThread
from endpoints.providers.base import AssistantsSettings, RunCall


def check_call(run: RunCall, settings: AssistantsSettings) -> None:
    """A run needs an assistant (or the ids of the run it continues), one the endpoint supports."""
    if not (run.assistant_id or (run.thread_id and run.run_id and run.tool_outputs is not None)):
        raise ApiError(
            "invalid_request",
            "Assistants chats need an assistant_id (and a thread_id to go on with a thread), "
            "or the thread_id, run_id and tool_outputs of a run that requires action.",
            errors={"assistant_id": ["This field is required."]},
        )
    # LibreChat's validateAssistant: supportedIds first, else excludedIds.
    allowed = settings.supported_ids or None
    if run.assistant_id and (
        (allowed is not None and run.assistant_id not in allowed)
        or (allowed is None and run.assistant_id in settings.excluded_ids)
    ):
        raise ApiError(
            "invalid_request",
            f"The assistant {run.assistant_id!r} is not supported on this endpoint.",
            errors={"assistant_id": ["Assistant not supported."]},
        )


def check_author(assistant: dict[str, Any], caller: Caller | None) -> None:
    """LibreChat's validateAuthor for ``privateAssistants``: only the author (and admins) may use it."""
    if caller is not None and caller.is_staff:
        return
    author = (assistant.get("metadata") or {}).get("author")
    if caller is None or author != str(caller.id):
        raise ApiError(
            "invalid_request",
            f"The assistant {assistant.get('id')!r} is private to its author.",
            errors={"assistant_id": ["Assistant not available."]},
        )


async def check_thread_owner(thread_id: str, caller: Caller | None) -> None:
    owner = await AssistantThread.objects.filter(thread_id=thread_id).values_list("user_id", flat=True).afirst()
    if owner is not None and (caller is None or owner != caller.id):
        raise ApiError(
            "invalid_request",
            "This thread_id is not one of your threads.",
            errors={"thread_id": ["Start a new thread, or continue one of yours."]},
        )


async def remember_thread(thread_id: str, caller: Caller, endpoint: str) -> None:
    await AssistantThread.objects.aget_or_create(
        thread_id=thread_id, defaults={"user_id": caller.id, "endpoint": endpoint}
    )
