"""Rate limits and concurrency caps (CONTRACT §8).  Filled in by issue 7."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .admission import Admission
    from .catalog import Snapshot
    from .chat import ChatSession


async def admit(session: ChatSession, snapshot: Snapshot) -> Admission | None:
    """Raise ApiError (rate_limit_exceeded, concurrent_limit, rate_limit_unavailable) or admit."""
    return None
