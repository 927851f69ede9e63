"""Recording usage: ``begin`` before the upstream call, ``finish`` exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from .models import Status, UsageRecord
from .pricing import MILLION, Price


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # Status value
    error_type: str = ""
    answered_endpoint: str = ""
    answered_model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    cost_usd: Decimal | None = None
    latency_ms: int | None = None
    ttft_ms: int | None = None


def cost(price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal | None:
    """USD for these tokens; None when the price is unknown (never a silent 0)."""
    if not price.known:
        return None
    assert price.prompt is not None and price.completion is not None
    cached = min(cached_tokens, prompt_tokens)
    cached_rate = price.cached if price.cached is not None else price.prompt
    total = (
        Decimal(prompt_tokens - cached) * price.prompt
        + Decimal(cached) * cached_rate
        + Decimal(completion_tokens) * price.completion
    )
    return total / MILLION


async def begin(
    *, request_id: str, user_id: int | None, via: str, endpoint: str, model: str, conversation_id: str
) -> None:
    await UsageRecord.objects.acreate(
        request_id=request_id,
        user_id=user_id,
        via=via,
        endpoint=endpoint[:100],
        model=model[:255],
        conversation_id=conversation_id[:200],
    )


async def finish(request_id: str, outcome: Outcome, *, endpoint: str = "", model: str = "") -> bool:
    """Finalize the pending row; True only the first time (a conditional UPDATE)."""
    fields = {
        "status": outcome.status,
        "error_type": outcome.error_type,
        "answered_endpoint": outcome.answered_endpoint[:100],
        "answered_model": outcome.answered_model[:255],
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cached_tokens": outcome.cached_tokens,
        "estimated": outcome.estimated,
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "ttft_ms": outcome.ttft_ms,
        "finished_at": timezone.now(),
    }
    if endpoint:
        fields["endpoint"] = endpoint[:100]
    if model:
        fields["model"] = model[:255]
    updated = await UsageRecord.objects.filter(request_id=request_id, status=Status.PENDING).aupdate(**fields)
    return updated == 1
