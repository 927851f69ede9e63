"""Money as the API writes it, and LibreChat's token credits (1,000,000 credits = 1 USD)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from usage.models import CREDITS_PER_USD


def money(value: Decimal) -> str:
    """A Decimal as the API writes money: a plain decimal string, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def to_credits(usd: Decimal) -> Decimal:
    return (usd * CREDITS_PER_USD).quantize(Decimal("1e-6"), rounding=ROUND_HALF_EVEN)
