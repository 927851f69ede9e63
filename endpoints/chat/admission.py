"""Admitting a chat: its :class:`~core.admission.Ticket`, the checks of
``settings.CHAT_ADMISSION_CHECKS`` run in order, and settling what they hold.

A refusal by any check gives back what the checks before it took, at once.  Settling never
raises: a hold that fails to settle is logged and the others still settle (a slot lapses by
itself, a budget hold is closed by ``reap_usage``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from core.admission import Check, Estimate, Hold, RateLimit, Ticket
from core.caller import Caller
from core.outcome import Outcome
from endpoints.chat.request import ChatCall
from endpoints.chat.route import Route
from endpoints.providers.estimate import prompt_tokens
from usage.models import Status
from usage.pricing import cost, price_for

log = logging.getLogger(__name__)

#: Completion tokens assumed when the request sets no ``max_tokens`` and the model has no known maximum.
DEFAULT_COMPLETION_TOKENS = 1024
#: Without ``max_tokens``, a model's maximum output counts up to this many tokens (a 64k-token
#: maximum would otherwise refuse every request of a modest balance).
COMPLETION_CAP = 4096


@cache
def _checks(paths: tuple[str, ...]) -> tuple[Check, ...]:
    return tuple(import_string(path) for path in paths)


def checks() -> tuple[Check, ...]:
    return _checks(tuple(settings.CHAT_ADMISSION_CHECKS))


def estimate(call: ChatCall, route: Route) -> Estimate:
    """Prompt: the messages and tools (``providers.estimate``); completion: ``max_tokens``, else
    the model's maximum output up to :data:`COMPLETION_CAP`, else :data:`DEFAULT_COMPLETION_TOKENS`."""
    model = route.model
    prompt = prompt_tokens(call.messages, call.tools, route.target.kind)
    if call.max_tokens:
        completion = call.max_tokens
    elif model is not None and model.max_output_tokens:
        completion = min(model.max_output_tokens, COMPLETION_CAP)
    else:
        completion = DEFAULT_COMPLETION_TOKENS
    price = price_for(route.endpoint.kind, route.model_id, model.prompt_price if model else None,
                      model.completion_price if model else None, model.cached_price if model else None)  # fmt: skip
    return Estimate(prompt, completion, cost(price, prompt, completion))


def ticket(request_id: str, caller: Caller, client_ip: str, call: ChatCall, route: Route, *, attempt: int) -> Ticket:
    endpoint, model_id = route.endpoint, route.model_id
    limits = [RateLimit("endpoint", endpoint.name, endpoint.rate_limit)] if endpoint.rate_limit else []
    if route.model is not None and route.model.rate_limit:
        limits.append(RateLimit("model", f"{endpoint.name}/{model_id}", route.model.rate_limit))
    if route.deployment and route.model is not None:
        deployment = next((d for d in route.model.deployments if d.name == route.deployment), None)
        if deployment is not None and deployment.rate_limit:
            limits.append(RateLimit("deployment", deployment.key, deployment.rate_limit))
    return Ticket(request_id=request_id, caller=caller, client_ip=client_ip, endpoint=endpoint.name, model=model_id,
                  estimate=estimate(call, route), rate_limits=tuple(limits), attempt=attempt)  # fmt: skip


async def admit(ticket: Ticket) -> list[Hold]:
    """Every check's hold, in order; on a refusal (or a cancellation) what was taken is given back."""
    holds: list[Hold] = []
    try:
        for check in checks():
            hold = await check(ticket)
            if hold is not None:
                holds.append(hold)
    except BaseException as exc:
        refused = Outcome(status=Status.ERROR, error_type=getattr(exc, "type", "internal_error"))
        await asyncio.shield(settle(holds, refused))
        raise
    return holds


async def settle(holds: Iterable[Hold], outcome: Outcome) -> None:
    """Settle each hold once; one that fails is logged and does not stop the others."""
    for hold in holds:
        try:
            await hold.settle(outcome)
        except Exception:
            log.exception("settling %r failed", hold)
