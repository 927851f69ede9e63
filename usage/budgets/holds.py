"""Reserving and settling, synchronous: one transaction each (see the package's docstring)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from usage.balances import refill_cutoff
from usage.budgets.config import BudgetConfig, Rule
from usage.models import Balance, Reservation, SpendingWindow, Status, UsageRecord
from usage.money import money, to_credits

log = logging.getLogger(__name__)

NANO = Decimal("1e-9")


class BudgetExceeded(Exception):
    def __init__(self, message: str, context: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class _Refused(Exception):
    def __init__(self, rule: Rule | None = None, key: tuple[int, int, date] | None = None) -> None:
        self.rule, self.key = rule, key


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


def reserve_sync(hold_id: str, user_id: int, endpoint: str, estimate_usd: Decimal | None, config: BudgetConfig, *,
                 usage_request_id: str = "", model: str = "", lease_seconds: float | None = None,
                 now: datetime | None = None) -> Reservation | None:  # fmt: skip
    """Hold ``estimate_usd`` on every account this request's target draws on, or raise BudgetExceeded.

    ``hold_id`` names the hold (a request's id and its attempt); ``lease_seconds`` makes it a lease,
    renewed by :func:`renew_sync` while the chat runs.  An unknown estimate (no price, where
    ``UNPRICED_MODELS=allow``) holds nothing but still needs some room left.
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
                request_id=hold_id, usage_request_id=usage_request_id, endpoint=endpoint, model=model, user_id=user_id,
                estimate_usd=usd, credits=credits if config.balance_enabled else None,
                window_ids=[[k[0], k[1], k[2].isoformat()] for k in sorted(keys)],
                expires_at=now + timedelta(seconds=lease_seconds) if lease_seconds else None,
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


def renew_sync(key: str, lease_seconds: float) -> None:
    Reservation.objects.filter(request_id=key).update(expires_at=timezone.now() + timedelta(seconds=lease_seconds))


def running_cost(reservation: Reservation) -> Decimal | None:
    """What its request streamed from its target before its worker died, as the pending usage row
    last recorded it (the chat writes its running count there while it streams)."""
    row = UsageRecord.objects.filter(request_id=reservation.usage_request_id, status=Status.PENDING,
                                     answered_endpoint=reservation.endpoint, answered_model=reservation.model).first()  # fmt: skip
    return row.cost_usd if row is not None else None


def release_lapsed(*, older_than: timedelta | None = None, usage_request_ids: list[str] | None = None,
                   now: datetime | None = None) -> int:  # fmt: skip
    """Give back the holds of requests that never settled — leases that lapsed (their worker stopped
    renewing them), holds without a lease made more than ``older_than`` ago, and those of these
    usage rows — each charged the running cost its usage row recorded."""
    now = now or timezone.now()
    lapsed = Q(expires_at__lt=now)
    if older_than is not None:
        lapsed |= Q(expires_at__isnull=True, created_at__lt=now - older_than)
    if usage_request_ids:
        lapsed |= Q(usage_request_id__in=usage_request_ids)
    released = 0
    for reservation in Reservation.objects.filter(lapsed):
        released += settle_sync(reservation.request_id, running_cost(reservation))
    if released:
        log.warning("released %d budget hold(s) whose chat never settled (its worker died?)", released)
    return released
