"""librechat.yaml's ``balance:`` section: validated, seeded into :class:`usage.models.BalanceSettings`, exported.

As LibreChat (v0.8.x, ``balanceSchema`` in librechat-data-provider and
``api/server/middleware/setBalanceConfig.js``):

* balances are counted in token credits, 1,000,000 credits = 1 USD;
* ``enabled`` (default false), ``startBalance`` (20000: what a user without a
  balance record gets, once), ``autoRefillEnabled`` (false),
  ``refillIntervalValue`` (30), ``refillIntervalUnit`` (``days``; one of
  seconds, minutes, hours, days, weeks, months), ``refillAmount`` (10000);
* an auto-refill adds ``refillAmount`` when a request would not fit and the
  interval has passed since the last refill (``Balance.check`` in LibreChat;
  applied by :mod:`usage.budgets`).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Protocol

from endpoints.config.yamlfile import ConfigError, Problem
from usage.models import BalanceSettings, RefillUnit, Source, forget_budget_config


class Report(Protocol):
    """What seeding reports (``endpoints.config.seed.SeedReport``)."""

    kept: list[str]

    def note(self, message: str) -> None: ...


#: LibreChat's defaults for a ``balance:`` mapping (its zod ``balanceSchema``).
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "startBalance": 20000,
    "autoRefillEnabled": False,
    "refillIntervalValue": 30,
    "refillIntervalUnit": "days",
    "refillAmount": 10000,
}
FIELDS = {
    "enabled": "enabled",
    "startBalance": "start_balance",
    "autoRefillEnabled": "auto_refill_enabled",
    "refillIntervalValue": "refill_interval_value",
    "refillIntervalUnit": "refill_interval_unit",
    "refillAmount": "refill_amount",
}
MAX_CREDITS = Decimal(10) ** 17
#: LibreChat's MIN_BALANCE_RESERVATION_TTL_MS (its own key; LibreChat uses it, this service does not).
MIN_RESERVATION_TTL_MS = 10_000


def problems(data: dict[str, Any] | None, path: str = "balance") -> list[Problem]:
    """What is wrong with a ``balance:`` mapping, each named by its yaml path.

    LibreChat's ``balanceSchema`` drops keys it does not know, and so do we (the config
    reader warns about them); a key written without a value is refused, as LibreChat does.
    """
    found: list[Problem] = []
    for key, value in (data or {}).items():
        here = f"{path}.{key}"
        if value is None and (key in FIELDS or key == "reservationTtlMs"):
            found.append(Problem(here, "has no value; LibreChat refuses a key written without one"))
        elif key == "reservationTtlMs":
            if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
                found.append(Problem(here, f"expected a whole number of milliseconds, got {value!r}"))
            elif value < MIN_RESERVATION_TTL_MS:
                found.append(Problem(here, f"must be at least {MIN_RESERVATION_TTL_MS}, got {value!r}"))
        elif key not in FIELDS:
            continue
        elif key in ("enabled", "autoRefillEnabled"):
            if not isinstance(value, bool):
                found.append(Problem(here, f"expected true or false, got {value!r}"))
        elif key == "refillIntervalUnit":
            if value not in RefillUnit.values:
                found.append(Problem(here, f"expected one of {', '.join(RefillUnit.values)}, got {value!r}"))
        elif key == "refillIntervalValue":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                found.append(Problem(here, f"expected a whole number >= 1, got {value!r}"))
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            found.append(Problem(here, f"expected a number of token credits (1,000,000 = 1 USD), got {value!r}"))
        elif not 0 <= Decimal(str(value)) < MAX_CREDITS:
            found.append(Problem(here, f"expected a number of token credits from 0 to {MAX_CREDITS}, got {value!r}"))
    return found


def settings_values(data: dict[str, Any] | None) -> dict[str, Any]:
    """A valid ``balance:`` mapping as BalanceSettings field values (LibreChat's defaults filled in)."""
    merged = {**DEFAULTS, **{k: v for k, v in (data or {}).items() if v is not None and k in FIELDS}}
    values = {FIELDS[key]: merged[key] for key in FIELDS}
    values["start_balance"] = Decimal(str(values["start_balance"]))
    values["refill_amount"] = Decimal(str(values["refill_amount"]))
    return values


def apply_balance_settings(data: dict[str, Any] | None, report: Report, *, overwrite: bool = False) -> None:
    """Seed the yaml's ``balance:`` into the settings row (inside the seeding transaction).

    Without a ``balance:`` mapping, settings that came from an earlier yaml go back
    to LibreChat's defaults (balances off), and settings made in admin stay.
    Settings edited in admin are kept unless ``overwrite``.
    A bad mapping raises ConfigError, which rolls the whole seed back.
    """
    found = problems(data)
    if found:
        raise ConfigError(found)
    row = BalanceSettings.objects.select_for_update().filter(pk=1).first()
    if data is None and (row is None or row.source != Source.YAML or row.admin_modified):
        return  # nothing from the yaml, now or before: admin's settings (or none) stay
    if row is not None and row.admin_modified and not overwrite:
        report.kept.append("kept balance settings: edited in admin (use --overwrite to replace)")
        return
    # A ``balance:`` removed from the yaml means LibreChat's defaults again: balances off.
    created = row is None
    row = row or BalanceSettings(pk=1)
    changed = []
    for name, value in settings_values(data).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    if row.source != Source.YAML or row.admin_modified:
        row.source, row.admin_modified = Source.YAML, False
        changed.append("source")
    if created or changed:
        row.save()
        report.note("created balance settings" if created else f"updated balance settings: {', '.join(changed)}")
    forget_budget_config()


def export_balance() -> dict[str, Any] | None:
    """The settings as librechat.yaml's ``balance:`` mapping (for ``export_endpoints``); None when unset."""
    row = BalanceSettings.objects.filter(pk=1).first()
    if row is None:
        return None

    def number(value: Decimal) -> int | float:
        return int(value) if value == value.to_integral_value() else float(value)

    return {
        "enabled": row.enabled,
        "startBalance": number(row.start_balance),
        "autoRefillEnabled": row.auto_refill_enabled,
        "refillIntervalValue": row.refill_interval_value,
        "refillIntervalUnit": row.refill_interval_unit,
        "refillAmount": number(row.refill_amount),
    }
