"""Prices: per-model admin overrides first, then the genai-prices catalog.

Figures are ``Decimal`` USD per 1M tokens.  A model neither knows is "unknown":
its usage is recorded with cost unknown, never priced at 0 silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from endpoints.config.defaults import CATALOG_PROVIDER

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    prompt: Decimal | None
    completion: Decimal | None
    cached: Decimal | None
    source: str  # "override" | "genai-prices" | "unknown"

    @property
    def known(self) -> bool:
        return self.prompt is not None and self.completion is not None

    def as_json(self) -> dict[str, object]:
        def num(value: Decimal | None) -> float | None:
            return float(value) if value is not None else None

        return {
            "prompt": num(self.prompt),
            "completion": num(self.completion),
            "cached": num(self.cached),
            "unit": "USD per 1M tokens",
            "source": self.source,
        }


UNKNOWN = Price(None, None, None, "unknown")


@lru_cache(maxsize=4096)
def catalog_price(model_id: str, kind: str) -> Price:
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model_id, None, CATALOG_PROVIDER.get(kind), None)
    except LookupError:
        return UNKNOWN
    from datetime import UTC, datetime

    prices = info.get_prices(datetime.now(tz=UTC))
    prompt = prices.input_mtok
    completion = prices.output_mtok
    if not isinstance(prompt, Decimal) or not isinstance(completion, Decimal):
        return UNKNOWN  # tiered prices: not representable as one figure
    cached = prices.cache_read_mtok if isinstance(prices.cache_read_mtok, Decimal) else None
    return Price(prompt, completion, cached, "genai-prices")


def price_for(
    kind: str, model_id: str, prompt: Decimal | None, completion: Decimal | None, cached: Decimal | None
) -> Price:
    """The price of a model: its overrides (all or nothing for prompt/completion) or the catalog."""
    if prompt is not None and completion is not None:
        return Price(prompt, completion, cached, "override")
    return catalog_price(model_id, kind)
