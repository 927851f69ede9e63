"""Balances and spending limits (CONTRACT §8, budget_exceeded).  Filled in by issue 6."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpoints.admission import Admission
    from endpoints.catalog import Snapshot
    from endpoints.chat import ChatSession


async def reserve(session: ChatSession, snapshot: Snapshot) -> Admission | None:
    """Raise ApiError("budget_exceeded", …) or hold a reservation for the estimated cost."""
    return None
