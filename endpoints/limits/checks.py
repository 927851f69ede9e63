"""The limits as admission checks (``core.admission``): each reads the ticket, counts in the
shared cache (one thread hop with Redis, none in-process) and raises the contract's error to
refuse: ``concurrent_limit``, ``rate_limit_exceeded`` or ``rate_limit_unavailable``."""

from __future__ import annotations

from django.conf import settings

from core.admission import Ticket
from core.outcome import Outcome
from endpoints.limits.counters import add_tokens, check_tokens, count_request, counter_cache, in_thread
from endpoints.limits.rules import Rule, concurrent_limit, message_rules, target_rules
from endpoints.limits.slots import Lease, SlotHold, release_in_thread, take_slot


def _take_slot(user_id: int) -> Lease | None:
    return take_slot(user_id, settings.CONCURRENT_MESSAGE_MAX, settings.CONCURRENT_LEASE_SECONDS, counter_cache())


async def concurrency(ticket: Ticket) -> SlotHold | None:
    """A slot of the user's ``CONCURRENT_MESSAGE_MAX`` (``LIMIT_CONCURRENT_MESSAGES``), once per request."""
    if ticket.fallback or not settings.LIMIT_CONCURRENT_MESSAGES:
        return None
    lease = await in_thread(_take_slot, ticket.caller.id, orphan=release_in_thread)
    if lease is None:
        raise concurrent_limit(settings.CONCURRENT_MESSAGE_MAX)
    return SlotHold(lease)


def _count(rules: list[Rule]) -> None:
    for rule in rules:
        count_request(rule)


async def message_limits(ticket: Ticket) -> None:
    """LibreChat's per-IP and per-user message windows, once per request."""
    rules = [] if ticket.fallback else message_rules(ticket.caller.id, ticket.client_ip)
    if rules:
        await in_thread(_count, rules)
    return None


def _check_target(rules: list[Rule]) -> None:
    check_tokens([rule for rule in rules if rule.unit == "tokens"], counter_cache())
    _count([rule for rule in rules if rule.unit == "requests"])


class TokenHold:
    """The token windows of an admitted target: what it used counts there if it answered."""

    per_target = True

    def __init__(self, rules: list[Rule], endpoint: str, model: str) -> None:
        self.rules = rules
        self.target = (endpoint, model)

    def __repr__(self) -> str:
        return f"<TokenHold {self.target}>"

    async def settle(self, outcome: Outcome) -> None:
        if outcome.tokens > 0 and outcome.answered_by(*self.target):
            await in_thread(_add, self.rules, outcome.tokens)


def _add(rules: list[Rule], tokens: int) -> None:
    add_tokens(rules, tokens, counter_cache())


async def target_limits(ticket: Ticket) -> TokenHold | None:
    """The target's ``rateLimit`` (endpoint, then model): its token windows, then its request windows."""
    rules = target_rules(ticket.rate_limits)
    if not rules:
        return None
    await in_thread(_check_target, rules)
    tokens = [rule for rule in rules if rule.unit == "tokens"]
    return TokenHold(tokens, ticket.endpoint, ticket.model) if tokens else None
