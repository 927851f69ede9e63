"""Field validators shared by the endpoint tables and the usage app (no app imports here,
so models can use them without import cycles)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

#: Above this a price per 1M tokens is a typo (the yaml reader uses the same bound).
MAX_PRICE = Decimal(10) ** 8


def validate_price(value: Any) -> None:
    """A model-field / form validator: a price is a finite number >= 0 (USD per 1M tokens)."""
    if value is None:
        return
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError("Enter a price in USD per 1M tokens.", code="invalid") from None
    if not number.is_finite():
        raise ValidationError("A price must be a finite number.", code="invalid")
    if number < 0:
        raise ValidationError("A price cannot be negative.", code="min_value")
    if number >= MAX_PRICE:
        raise ValidationError(f"A price must be below {MAX_PRICE} USD per 1M tokens.", code="max_value")
