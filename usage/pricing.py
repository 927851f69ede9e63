"""Prices: per-model admin overrides first, then the genai-prices catalog.

Figures are ``Decimal`` USD per 1M tokens.  A model neither knows is "unknown":
its usage is recorded with cost unknown, never priced at 0 silently.  A price
that is negative, NaN or infinite is rejected wherever it comes from: the
admin form and model field (:data:`PRICE_VALIDATORS`), the yaml (validated
when seeding), and here, at the last moment, for anything already stored.

Tiered catalog prices (Anthropic's and Google's long-context rates) keep their
tiers: like genai-prices, crossing a tier's threshold of prompt tokens applies
that tier's rate to all tokens of the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError

from core.validators import validate_price
from endpoints.config.defaults import CATALOG_PROVIDER

log = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)

#: (threshold of prompt tokens, USD per 1M tokens) above the base rate, ascending.
Tiers = tuple[tuple[int, Decimal], ...]


PRICE_VALIDATORS = [validate_price]


def is_valid_price(value: Decimal | None) -> bool:
    try:
        validate_price(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Price:
    prompt: Decimal | None
    completion: Decimal | None
    cached: Decimal | None
    source: str  # "override" | "genai-prices" | "unknown" | "invalid"
    prompt_tiers: Tiers = ()
    completion_tiers: Tiers = ()
    cached_tiers: Tiers = ()

    @property
    def known(self) -> bool:
        return self.prompt is not None and self.completion is not None

    def rates(self, prompt_tokens: int) -> tuple[Decimal, Decimal, Decimal]:
        """Prompt, completion and cached-input rates for a request of this many prompt tokens."""
        assert self.prompt is not None and self.completion is not None
        prompt = _tier(self.prompt, self.prompt_tiers, prompt_tokens)
        completion = _tier(self.completion, self.completion_tiers, prompt_tokens)
        cached = _tier(self.cached, self.cached_tiers, prompt_tokens) if self.cached is not None else prompt
        return prompt, completion, cached

    def as_json(self) -> dict[str, object]:
        def num(value: Decimal | None) -> float | None:
            return float(value) if value is not None else None

        data: dict[str, object] = {
            "prompt": num(self.prompt),
            "completion": num(self.completion),
            "cached": num(self.cached),
            "unit": "USD per 1M tokens",
            "source": self.source,
        }
        starts = sorted({start for tiers in (self.prompt_tiers, self.completion_tiers) for start, _ in tiers})
        if starts and self.known:
            data["tiers"] = []
            for start in starts:
                prompt, completion, cached = self.rates(start + 1)
                data["tiers"].append({"above_prompt_tokens": start, "prompt": float(prompt),  # type: ignore[attr-defined]
                                      "completion": float(completion), "cached": float(cached)})  # fmt: skip
        return data


UNKNOWN = Price(None, None, None, "unknown")
INVALID = Price(None, None, None, "invalid")


def _tier(base: Decimal, tiers: Tiers, prompt_tokens: int) -> Decimal:
    rate = base
    for start, tier_rate in tiers:
        if prompt_tokens > start:
            rate = tier_rate
    return rate


def _split(value: Any) -> tuple[Decimal | None, Tiers] | None:
    """A genai-prices figure as (base, tiers); None when it is neither a Decimal nor TieredPrices."""
    from genai_prices.types import TieredPrices

    if value is None:
        return None, ()
    if isinstance(value, Decimal):
        return value, ()
    if isinstance(value, TieredPrices):
        return value.base, tuple((tier.start, tier.price) for tier in value.tiers)
    return None


@lru_cache(maxsize=4096)
def catalog_price(model_id: str, kind: str) -> Price:
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model_id, None, CATALOG_PROVIDER.get(kind), None)
    except LookupError:
        return UNKNOWN
    prices = info.get_prices(datetime.now(tz=UTC))
    prompt, completion, cached = (
        _split(prices.input_mtok),
        _split(prices.output_mtok),
        _split(prices.cache_read_mtok),
    )
    if prompt is None or completion is None or prompt[0] is None or completion[0] is None:
        return UNKNOWN
    cached = cached if cached is not None else (None, ())
    figures = [prompt[0], completion[0], cached[0], *(r for part in (prompt, completion, cached) for _, r in part[1])]
    if not all(is_valid_price(figure) for figure in figures):
        log.warning("genai-prices has an invalid price for %s (%s); treating it as unknown", model_id, kind)
        return INVALID
    return Price(prompt[0], completion[0], cached[0], "genai-prices", prompt[1], completion[1], cached[1])


def price_for(kind: str, model_id: str, prompt: Decimal | None, completion: Decimal | None,
              cached: Decimal | None) -> Price:  # fmt: skip
    """The price of a model: its overrides (all or nothing for prompt/completion) or the catalog.

    An override that is negative, NaN or infinite (which the admin form and the
    yaml reader refuse, but a raw database edit could store) prices nothing:
    the usage is recorded with cost unknown, never with a negative cost.
    """
    if prompt is not None and completion is not None:
        if not (is_valid_price(prompt) and is_valid_price(completion) and is_valid_price(cached)):
            log.warning("invalid price override for %s (%s); treating its cost as unknown", model_id, kind)
            return INVALID
        return Price(prompt, completion, cached, "override")
    return catalog_price(model_id, kind)


def cost(price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal | None:
    """USD for these tokens; None when the price is unknown (never a silent 0).

    ``prompt_tokens`` includes the ``cached_tokens`` read from the provider's
    cache, which are billed at the cached rate (the prompt rate when the model
    has none), as genai-prices computes it.
    """
    if not price.known:
        return None
    prompt_rate, completion_rate, cached_rate = price.rates(prompt_tokens)
    cached = min(cached_tokens, prompt_tokens)
    total = (
        Decimal(prompt_tokens - cached) * prompt_rate
        + Decimal(cached) * cached_rate
        + Decimal(completion_tokens) * completion_rate
    )
    return total / MILLION


def unpriced_cost(prompt_tokens: int, completion_tokens: int) -> Decimal:
    """USD for tokens of a model without a price, at ``UNPRICED_PROMPT_PRICE`` and
    ``UNPRICED_COMPLETION_PRICE`` (per 1M tokens): what budgets count when ``UNPRICED_MODELS=estimate``."""
    from django.conf import settings

    price = Price(Decimal(str(settings.UNPRICED_PROMPT_PRICE)), Decimal(str(settings.UNPRICED_COMPLETION_PRICE)),
                  None, "unpriced-default")  # fmt: skip
    result = cost(price, prompt_tokens, completion_tokens)
    assert result is not None
    return result
