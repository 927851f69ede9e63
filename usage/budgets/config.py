"""The balance settings and the enabled spending limits, as one immutable value read
through the shared cache (dropped on any change) and a one-second process-local memo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.core.cache import cache

from core import memo
from usage.models import BUDGET_CONFIG_KEY, BalanceSettings, Period, SpendingLimit

CONFIG_TTL = 300


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
