"""Budgets and balances as an admission check (``core.admission``)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async

from core.admission import Ticket
from core.errors import ApiError
from core.outcome import Outcome
from usage.budgets.config import aload_config
from usage.budgets.holds import BudgetExceeded, reserve_sync, settle_sync


class BudgetHold:
    """A reservation held by one chat; :meth:`settle` charges the outcome's cost and releases the rest."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._settled = False

    def __repr__(self) -> str:
        return f"BudgetHold({self.request_id!r})"

    async def settle(self, outcome: Outcome) -> None:
        if self._settled:
            return
        self._settled = True
        await asyncio.shield(sync_to_async(settle_sync)(self.request_id, outcome.cost_usd))


async def spending(ticket: Ticket) -> BudgetHold | None:
    """Hold the estimated cost on the user's balance and on every spending limit that applies,
    or refuse with ``budget_exceeded`` (402)."""
    if ticket.fallback:
        return None
    config = await aload_config()
    if not config.active:
        return None
    hold = sync_to_async(reserve_sync)
    try:
        reservation = await hold(ticket.request_id, ticket.caller.id, ticket.endpoint, ticket.estimate.cost_usd, config)
    except BudgetExceeded as exc:
        raise ApiError("budget_exceeded", exc.message, status=402, prompt_tokens=ticket.estimate.prompt_tokens,
                       **exc.context) from None  # fmt: skip
    except asyncio.CancelledError:
        # The client left while the hold was being taken: the thread may still commit it. The release
        # runs after it (same thread-sensitive executor) and finds it, or finds nothing to release.
        await asyncio.shield(sync_to_async(settle_sync)(ticket.request_id, None))
        raise
    return BudgetHold(ticket.request_id) if reservation is not None else None
