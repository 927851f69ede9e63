"""What a chat must pass before its upstream call, and settle after it.

An admission check is a plain async callable, ``check(ticket) -> Hold | None``,
listed in ``settings.CHAT_ADMISSION_CHECKS`` (as DRF lists its throttle classes).
It reads only the :class:`Ticket`, a frozen description of the request, and
raises :class:`core.errors.ApiError` to refuse.  What it takes (a concurrency
slot, a budget reservation, counted tokens) it returns as a :class:`Hold`; the
chat settles every hold exactly once, on every exit path, with the request's
:class:`Outcome`, so nothing it holds can leak.

A check runs once for the requested target and again for each fallback tried
(``ticket.attempt``): checks of the whole request (client and user limits,
concurrency) pass on fallbacks, checks of a target (its limits, its spending)
hold each target to its own.  A hold of a target (``per_target``) is settled as
soon as its target fails to open, so a fallback never waits behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from core.caller import Caller
from core.outcome import Outcome


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the request is expected to use, before the upstream says."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None  # None: the target's model has no known price


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A configured ``rateLimit`` mapping and whom it counts: scope ``endpoint``, ``model`` or ``deployment``."""

    scope: str
    name: str  # the endpoint name, "endpoint/model", or "endpoint/model/deployment"
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ticket:
    request_id: str
    caller: Caller
    client_ip: str
    endpoint: str  # the target being admitted: the requested one, or a fallback
    model: str
    estimate: Estimate
    rate_limits: tuple[RateLimit, ...] = ()
    attempt: int = 0  # 0: the first target tried; 1, 2 …: the model's other deployments, then fallbacks

    @property
    def fallback(self) -> bool:
        return self.attempt > 0


class Hold(Protocol):
    #: True: held for the ticket's target only (settled as soon as that target fails to open);
    #: False: held for the whole request (a concurrency slot).
    per_target: bool

    async def settle(self, outcome: Outcome) -> None:
        """Give back what was held and count what was used, given how the request ended.

        ``outcome.answered_endpoint``/``answered_model`` say which target answered: a hold of
        another target counts nothing of it."""


Check = Callable[[Ticket], Awaitable[Hold | None]]
