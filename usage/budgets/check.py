"""Budgets and balances as an admission check (``core.admission``).

Every target a chat tries is held to its own spending limits and to the user's balance, and
charged only for what it answered.  A hold is a lease (``BUDGET_LEASE_SECONDS``), renewed while
the chat runs: the hold of a worker that died lapses within one lease and is given back,
charging what the chat had streamed (its usage row's running count).  A model without a price
is counted as ``UNPRICED_MODELS`` says.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from functools import partial

from asgiref.sync import sync_to_async
from django.conf import settings

from core.admission import Ticket
from core.errors import ApiError
from core.leases import keep_renewed
from core.outcome import Outcome
from usage.budgets.config import aload_config
from usage.budgets.holds import BudgetExceeded, release_lapsed, renew_sync, reserve_sync, settle_sync
from usage.pricing import unpriced_cost

#: How often one process looks for lapsed holds (on the way into a reservation).
SWEEP_SECONDS = 30.0
_swept_at = 0.0


class BudgetHold:
    """One target's reservation; :meth:`settle` charges what that target answered and gives back the rest."""

    per_target = True

    def __init__(self, key: str, endpoint: str, model: str) -> None:
        self.key = key
        self.target = (endpoint, model)
        self._settled = False
        lease = settings.BUDGET_LEASE_SECONDS
        self._renewal = keep_renewed(self, lease / 3, partial(sync_to_async(renew_sync), key, lease))

    @property
    def held(self) -> bool:
        return not self._settled

    def __repr__(self) -> str:
        return f"BudgetHold({self.key!r})"

    async def settle(self, outcome: Outcome) -> None:
        if self._settled:
            return
        self._settled = True
        self._renewal.cancel()
        charge = charged(outcome) if outcome.answered_by(*self.target) else None
        await asyncio.shield(sync_to_async(settle_sync)(self.key, charge))


def charged(outcome: Outcome) -> Decimal | None:
    """What an answer costs against budgets: its price, else what ``UNPRICED_MODELS`` says."""
    if outcome.cost_usd is not None or settings.UNPRICED_MODELS != "estimate":
        return outcome.cost_usd
    return unpriced_cost(outcome.prompt_tokens, outcome.completion_tokens)


def _unpriced(ticket: Ticket) -> Decimal | None:
    if settings.UNPRICED_MODELS == "refuse":
        raise ApiError(
            "budget_exceeded",
            f"The model {ticket.model!r} of {ticket.endpoint} has no price, and spending limits apply to you, so "
            "its use could not be counted. Ask an administrator to set its price, or pick a priced model.",
            status=402, scope="unpriced", endpoint=ticket.endpoint, model=ticket.model,
        )  # fmt: skip
    if settings.UNPRICED_MODELS == "estimate":
        return unpriced_cost(ticket.estimate.prompt_tokens, ticket.estimate.completion_tokens)
    return None  # "allow": counted as nothing


async def _sweep() -> None:
    global _swept_at
    if time.monotonic() - _swept_at >= SWEEP_SECONDS:
        _swept_at = time.monotonic()
        await sync_to_async(release_lapsed)()


async def spending(ticket: Ticket) -> BudgetHold | None:
    """Hold the target's estimated cost on the user's balance and on every spending limit that
    applies, or refuse with ``budget_exceeded`` (402)."""
    config = await aload_config()
    if not config.active:
        return None
    await _sweep()
    usd = ticket.estimate.cost_usd
    if usd is None:
        usd = _unpriced(ticket)
    key = f"{ticket.request_id}#{ticket.attempt}"
    hold = sync_to_async(reserve_sync)
    try:
        reservation = await hold(key, ticket.caller.id, ticket.endpoint, usd, config, usage_request_id=ticket.request_id,
                                 model=ticket.model, lease_seconds=settings.BUDGET_LEASE_SECONDS)  # fmt: skip
    except BudgetExceeded as exc:
        raise ApiError("budget_exceeded", exc.message, status=402, prompt_tokens=ticket.estimate.prompt_tokens,
                       **exc.context) from None  # fmt: skip
    except asyncio.CancelledError:
        # The client left while the hold was being taken: the thread may still commit it. The release
        # runs after it (same thread-sensitive executor) and finds it, or finds nothing to release.
        await asyncio.shield(sync_to_async(settle_sync)(key, None))
        raise
    return BudgetHold(key, ticket.endpoint, ticket.model) if reservation is not None else None
