"""What a chat must pass before its upstream call, and settle after it.

Each check (rate limits and concurrency in ``endpoints.limits``; balances and
budgets in ``usage.budgets``) returns an :class:`Admission` or None.  The chat
session settles every admission exactly once, on every exit path, with the
request's outcome, so a slot or a reservation can never leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from usage.ledger import Outcome


class Admission(Protocol):
    async def settle(self, outcome: Outcome) -> None:
        """Release what was held (a concurrency slot, a budget reservation) given the outcome."""
