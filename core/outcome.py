"""How a chat ended: what the ledger records, what every admission hold is settled with."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # usage.models.Status: ok, error, client_aborted, …
    error_type: str = ""
    answered_endpoint: str = ""  # the target that answered (a fallback's, when one did)
    answered_model: str = ""
    answered_deployment: str = ""  # which of the model's deployments (endpoints/routing/)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    cost_usd: Decimal | None = None  # None: the model has no known price
    latency_ms: int | None = None
    ttft_ms: int | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def answered_by(self, endpoint: str, model: str) -> bool:
        return (self.answered_endpoint, self.answered_model) == (endpoint, model)
