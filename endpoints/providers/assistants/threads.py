"""Assistants threads belong to the user who started them through this service.

A thread id is unguessable but not secret (it travels in events and logs), so a
chat that names a ``thread_id`` started by someone else is refused.  Threads
created elsewhere (in OpenAI's playground, say) have no owner here and may be
continued, as LibreChat allows.
"""

from __future__ import annotations

from core.caller import Caller
from core.errors import ApiError
from endpoints.models import AssistantThread


async def check_owner(thread_id: str, caller: Caller) -> None:
    owner = await AssistantThread.objects.filter(thread_id=thread_id).values_list("user_id", flat=True).afirst()
    if owner is not None and owner != caller.id:
        raise ApiError(
            "invalid_request",
            "This thread_id is not one of your threads.",
            errors={"thread_id": ["Start a new thread, or continue one of yours."]},
        )


async def remember(thread_id: str, caller: Caller, endpoint: str) -> None:
    await AssistantThread.objects.aget_or_create(
        thread_id=thread_id, defaults={"user_id": caller.id, "endpoint": endpoint}
    )
