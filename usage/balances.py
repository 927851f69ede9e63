"""Balances in LibreChat's units: 1,000,000 token credits = 1 USD; auto-refill intervals.

The ``balance:`` settings themselves are read from librechat.yaml by
:mod:`endpoints.config.balance` into :class:`usage.models.BalanceSettings`.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from usage.models import RefillUnit


def refill_cutoff(now: datetime, value: int, unit: str) -> datetime:
    """The latest ``last_refill`` that allows a refill at ``now`` (LibreChat's addIntervalToDate, inverted)."""
    if unit == RefillUnit.MONTHS:
        month = now.month - 1 - value
        year, month = now.year + month // 12, month % 12 + 1
        day = min(now.day, calendar.monthrange(year, month)[1])
        return now.replace(year=year, month=month, day=day)
    seconds = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}.get(unit, 86400)
    return now - timedelta(seconds=seconds * value)
