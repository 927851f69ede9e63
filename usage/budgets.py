"""Balances and spending limits (CONTRACT §8, ``budget_exceeded``).

Before the upstream call a chat's cost is estimated (prompt: the messages'
characters / 4, plus a fixed count per image; completion: ``max_tokens``, else
the model's ``max_output_tokens`` up to :data:`COMPLETION_CAP`, else
:data:`DEFAULT_COMPLETION_TOKENS`) and *reserved*, in one transaction, on
every account the request draws on:

* the user's balance (when ``balance.enabled``), in LibreChat's token credits::

      UPDATE usage_balance SET reserved = reserved + :x
       WHERE user_id = :u AND credits >= reserved + :x AND credits > reserved

* each spending window (a limit, its subject, the day or month) that applies::

      UPDATE usage_spendingwindow SET reserved_usd = reserved_usd + :x
       WHERE … AND spent_usd + reserved_usd + :x <= :amount AND spent_usd + reserved_usd < :amount

A single conditional UPDATE per row is atomic on PostgreSQL (the WHERE is
re-checked on the row version that won the lock) and on SQLite (one writer),
so concurrent requests can never hold more than there is.  If any does not
fit, nothing is held and the chat answers ``budget_exceeded`` (402) before
any upstream call.  A :class:`Reservation` row records what was held; settling
deletes it (exactly once) and, in the same transaction, gives the holds back
and charges the actual cost.  A cost that is unknown (no price) is charged as
0 — the usage record keeps "cost unknown", and admin lists the model as
unpriced.  As in LibreChat, a charge larger than the balance leaves it at 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from core import memo
from usage.balances import refill_cutoff
from usage.ledger import cost
from usage.models import (
    BUDGET_CONFIG_KEY,
    CREDITS_PER_USD,
    Balance,
    BalanceSettings,
    Period,
    Reservation,
    SpendingLimit,
    SpendingWindow,
)
from usage.pricing import price_for

if TYPE_CHECKING:
    from core.admission import Admission
    from endpoints.catalog.snapshot import EndpointInfo, Snapshot
    from endpoints.chat.request import ChatCall
    from endpoints.chat.session import ChatSession
    from usage.ledger import Outcome

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
#: An image's prompt tokens, roughly (OpenAI: a 1024x1024 picture in high detail).
IMAGE_TOKENS = 765
#: Characters per message for its role and framing.
MESSAGE_OVERHEAD_CHARS = 16
#: Completion tokens assumed when the request sets no ``max_tokens`` and the model has no known maximum.
DEFAULT_COMPLETION_TOKENS = 1024
#: Without ``max_tokens``, a model's maximum output counts up to this many tokens (a 64k-token
#: maximum would otherwise refuse every request of a modest balance).
COMPLETION_CAP = 4096
NANO = Decimal("1e-9")
CONFIG_TTL = 300


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    user_id: int | None
    endpoint: str
    period: str
    amount_usd: Decimal
    shared: bool

    def applies(self, user_id: int, endpoint: str) -> bool:
        return (self.user_id is None or self.user_id == user_id) and (not self.endpoint or self.endpoint == endpoint)

    def subject(self, user_id: int) -> int:
        return 0 if self.shared and self.user_id is None else user_id

    def period_start(self, today: date) -> date:
        return today.replace(day=1) if self.period == Period.MONTH else today

    def resets_at(self, today: date) -> date:
        if self.period == Period.MONTH:
            return (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        return today + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    balance_enabled: bool = False
    start_balance: Decimal = Decimal(0)
    auto_refill: bool = False
    refill_value: int = 30
    refill_unit: str = "days"
    refill_amount: Decimal = Decimal(0)
    rules: tuple[Rule, ...] = ()

    @property
    def active(self) -> bool:
        return self.balance_enabled or bool(self.rules)


def build_config() -> BudgetConfig:
    row = BalanceSettings.load()
    rules = tuple(
        Rule(limit.pk, limit.user_id, limit.endpoint, limit.period, limit.amount_usd, limit.shared)
        for limit in SpendingLimit.objects.filter(enabled=True).order_by("pk")
    )
    return BudgetConfig(
        balance_enabled=row.enabled, start_balance=row.start_balance,
        auto_refill=row.auto_refill_enabled and row.refill_amount > 0, refill_value=row.refill_interval_value,
        refill_unit=row.refill_interval_unit, refill_amount=row.refill_amount, rules=rules,
    )  # fmt: skip


def load_config() -> BudgetConfig:
    """Balance settings and enabled limits: one shared-cache read when warm (dropped on any change)."""
    config = cache.get(BUDGET_CONFIG_KEY)
    if config is None:
        config = build_config()
        cache.set(BUDGET_CONFIG_KEY, config, timeout=CONFIG_TTL)
    return config


#: How long a worker trusts the budget settings it read (edits elsewhere show within this).
LOCAL_CONFIG_SECONDS = 1.0


async def aload_config() -> BudgetConfig:
    config = memo.get(BUDGET_CONFIG_KEY)
    if config is memo.MISSING:
        config = await cache.aget(BUDGET_CONFIG_KEY)
        if config is None:
            config = await sync_to_async(load_config)()
        memo.put(BUDGET_CONFIG_KEY, config, LOCAL_CONFIG_SECONDS)
    return config


# --- estimating ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Estimate:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None  # None: the model has no known price


def estimate_prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    chars = images = 0
    for message in messages:
        chars += MESSAGE_OVERHEAD_CHARS
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    images += 1
                elif isinstance(part, dict):
                    chars += len(str(part.get("text") or ""))
        for call in message.get("tool_calls") or ():
            chars += len(json.dumps(call))
    if tools:
        chars += len(json.dumps(tools))
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS


def estimate(call: ChatCall, endpoint: EndpointInfo) -> Estimate:
    model = endpoint.model(call.model)
    prompt = estimate_prompt_tokens(call.messages, call.tools)
    if call.max_tokens:
        completion = call.max_tokens
    elif model is not None and model.max_output_tokens:
        completion = min(model.max_output_tokens, COMPLETION_CAP)
    else:
        completion = DEFAULT_COMPLETION_TOKENS
    price = price_for(endpoint.kind, call.model, model.prompt_price if model else None,
                      model.completion_price if model else None, model.cached_price if model else None)  # fmt: skip
    return Estimate(prompt, completion, cost(price, prompt, completion))


# --- reserving and settling (sync: one transaction each) -----------------------------------


class BudgetExceeded(Exception):
    def __init__(self, message: str, context: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class _Refused(Exception):
    def __init__(self, rule: Rule | None = None, key: tuple[int, int, date] | None = None) -> None:
        self.rule, self.key = rule, key


def money(value: Decimal) -> str:
    """A Decimal as the API writes money: a plain decimal string, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def to_credits(usd: Decimal) -> Decimal:
    return (usd * CREDITS_PER_USD).quantize(Decimal("1e-6"), rounding=ROUND_HALF_EVEN)


def _window_filter(key: tuple[int, int, date]) -> Q:
    return Q(limit_id=key[0], subject=key[1], period_start=key[2])


def _hold_balance(user_id: int, credits: Decimal) -> bool:
    room = Balance.objects.filter(user_id=user_id, credits__gte=F("reserved") + credits, credits__gt=F("reserved"))
    return room.update(reserved=F("reserved") + credits) == 1


def _hold_window(key: tuple[int, int, date], amount: Decimal, usd: Decimal) -> bool:
    room = SpendingWindow.objects.filter(
        _window_filter(key),
        spent_usd__lte=Value(amount - usd) - F("reserved_usd"),
        spent_usd__lt=Value(amount) - F("reserved_usd"),
    )
    return room.update(reserved_usd=F("reserved_usd") + usd) == 1


def _create_balance(user_id: int, config: BudgetConfig) -> None:
    """A user's first balance: LibreChat's ``startBalance`` (setBalanceConfig)."""
    try:
        with transaction.atomic():
            Balance.objects.create(user_id=user_id, credits=config.start_balance)
    except IntegrityError:
        pass  # another request created it


def _refill(user_id: int, config: BudgetConfig, now: datetime) -> bool:
    """LibreChat's auto-refill: add ``refillAmount`` once the interval has passed since the last one."""
    cutoff = refill_cutoff(now, config.refill_value, config.refill_unit)
    due = Balance.objects.filter(user_id=user_id, last_refill__lte=cutoff)
    return due.update(credits=F("credits") + config.refill_amount, last_refill=now) == 1


def reserve_sync(request_id: str, user_id: int, endpoint: str, estimate_usd: Decimal | None,
                 config: BudgetConfig, *, now: datetime | None = None) -> Reservation | None:  # fmt: skip
    """Hold ``estimate_usd`` on every account this request draws on, or raise BudgetExceeded.

    An unknown estimate (no price) holds nothing but still needs some room left.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    usd = (estimate_usd or Decimal(0)).quantize(NANO, rounding=ROUND_HALF_EVEN)
    credits = to_credits(usd)
    rules = [rule for rule in config.rules if rule.applies(user_id, endpoint)]
    if not (config.balance_enabled or rules):
        return None
    keys = {(rule.id, rule.subject(user_id), rule.period_start(today)): rule for rule in rules}
    if keys:
        SpendingWindow.objects.bulk_create(
            [SpendingWindow(limit_id=k[0], subject=k[1], period_start=k[2]) for k in keys], ignore_conflicts=True
        )
    try:
        with transaction.atomic():
            if config.balance_enabled and not _hold_balance(user_id, credits):
                held = False
                if not Balance.objects.filter(user_id=user_id).exists():
                    _create_balance(user_id, config)
                    held = _hold_balance(user_id, credits)
                if not held and config.auto_refill and _refill(user_id, config, now):
                    held = _hold_balance(user_id, credits)
                if not held:
                    raise _Refused()
            for key in sorted(keys):  # one order for everybody: no deadlocks
                if not _hold_window(key, keys[key].amount_usd, usd):
                    raise _Refused(keys[key], key)
            return Reservation.objects.create(
                request_id=request_id, user_id=user_id, estimate_usd=usd,
                credits=credits if config.balance_enabled else None,
                window_ids=[[k[0], k[1], k[2].isoformat()] for k in sorted(keys)],
            )  # fmt: skip
    except _Refused as refused:
        raise _exceeded(refused, user_id, usd, credits, today) from None


def _exceeded(refused: _Refused, user_id: int, usd: Decimal, credits: Decimal, today: date) -> BudgetExceeded:
    estimated = money(usd) if usd else None
    if refused.rule is None or refused.key is None:
        balance = Balance.objects.filter(user_id=user_id).first()
        available = max(balance.available, Decimal(0)) if balance else Decimal(0)
        need = (
            f"this request's estimated cost ({money(credits)} credits; 1,000,000 credits = 1 USD)"
            if usd
            else "any request (1,000,000 credits = 1 USD)"
        )
        return BudgetExceeded(
            f"Your balance ({money(available)} token credits) cannot cover {need}. Ask an administrator to add "
            "credits, or send a shorter request or a lower max_tokens.",
            {"scope": "balance", "balance": money(available), "token_cost": money(credits),
             "estimated_cost_usd": estimated},
        )  # fmt: skip
    rule, key = refused.rule, refused.key
    window = SpendingWindow.objects.filter(_window_filter(key)).first()
    spent = window.spent_usd if window else Decimal(0)
    held = window.reserved_usd if window else Decimal(0)
    scope = "user" if rule.user_id else ("shared" if rule.shared else "each_user")
    where = f" on {rule.endpoint}" if rule.endpoint else ""
    return BudgetExceeded(
        f"The spending limit of {money(rule.amount_usd)} USD per {rule.period}{where} cannot cover this request "
        f"(spent {money(spent)} USD, {money(held)} USD held by requests in flight, this one estimated at "
        f"{estimated or 'an unknown cost'} USD). It resets on {rule.resets_at(today).isoformat()}.",
        {"scope": scope, "estimated_cost_usd": estimated,
         "limit": {"id": rule.id, "period": rule.period, "amount_usd": money(rule.amount_usd),
                   "endpoint": rule.endpoint or None, "spent_usd": money(spent), "reserved_usd": money(held),
                   "resets_on": rule.resets_at(today).isoformat()}},
    )  # fmt: skip


def settle_sync(request_id: str, cost_usd: Decimal | None) -> bool:
    """Give back what the request held and charge ``cost_usd``; True only the first time."""
    charge = max(cost_usd, Decimal(0)).quantize(NANO, rounding=ROUND_HALF_EVEN) if cost_usd is not None else Decimal(0)
    with transaction.atomic():
        reservation = Reservation.objects.select_for_update().filter(request_id=request_id).first()
        if reservation is None:
            return False
        reservation.delete()
        if reservation.credits is not None:
            Balance.objects.filter(user_id=reservation.user_id).update(
                credits=Greatest(F("credits") - to_credits(charge), Value(Decimal(0))),
                reserved=F("reserved") - reservation.credits,
            )
        for limit_id, subject, start in reservation.window_ids:
            key = (limit_id, subject, date.fromisoformat(start))
            SpendingWindow.objects.filter(_window_filter(key)).update(
                spent_usd=F("spent_usd") + charge, reserved_usd=F("reserved_usd") - reservation.estimate_usd
            )
    if cost_usd is None:
        log.debug("request %s: cost unknown (no price or no usage), charged 0", request_id)
    return True


def release_stale(older_than: timedelta) -> int:
    """Give back holds of requests that never settled (a worker died mid-request); nothing is charged."""
    cutoff = timezone.now() - older_than
    ids = list(Reservation.objects.filter(created_at__lt=cutoff).values_list("request_id", flat=True))
    return sum(settle_sync(request_id, None) for request_id in ids)


# --- the chat's admission check ----------------------------------------------------------


class BudgetAdmission:
    """A reservation held by one chat; :meth:`settle` charges the outcome's cost and releases the rest."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._settled = False

    def __repr__(self) -> str:
        return f"BudgetAdmission({self.request_id!r})"

    async def settle(self, outcome: Outcome) -> None:
        if self._settled:
            return
        self._settled = True
        await asyncio.shield(sync_to_async(settle_sync)(self.request_id, outcome.cost_usd))


async def reserve(session: ChatSession, snapshot: Snapshot) -> Admission | None:
    """Raise ApiError("budget_exceeded", …) or hold a reservation for the estimated cost."""
    config = await aload_config()
    call = session.call
    if not config.active or call is None:
        return None
    endpoint = snapshot.get(call.endpoint)
    if endpoint is None:
        return None  # the chat answers endpoint_not_found
    guess = estimate(call, endpoint)
    hold = sync_to_async(reserve_sync)
    try:
        reservation = await hold(session.request_id, session.caller.id, call.endpoint, guess.cost_usd, config)
    except BudgetExceeded as exc:
        from core.errors import ApiError

        raise ApiError("budget_exceeded", exc.message, status=402, prompt_tokens=guess.prompt_tokens,
                       **exc.context) from None  # fmt: skip
    except asyncio.CancelledError:
        # The client left while the hold was being taken: the thread may still commit it. The release
        # runs after it (same thread-sensitive executor) and finds it, or finds nothing to release.
        await asyncio.shield(sync_to_async(settle_sync)(session.request_id, None))
        raise
    return BudgetAdmission(session.request_id) if reservation is not None else None
