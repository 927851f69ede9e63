"""The one adapter exception, the vendors' common HTTP status mapping, and how a provider
failure reads as the contract's error (CONTRACT §7: never the upstream body, never a key)."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import Any

from core.errors import STATUS, ApiError

ERROR_KINDS = frozenset(
    {
        "invalid_api_key",
        "model_not_available",
        "upstream_rate_limited",
        "upstream_error",
        "upstream_timeout",
        "invalid_request",
        # A user-supplied base URL resolved to a forbidden address (endpoints/netguard.py).
        "invalid_base_url",
    }
)


class ProviderError(Exception):
    """The one adapter exception.

    ``kind`` is one of the contract's error types (:data:`ERROR_KINDS`). ``message`` is human text
    that never contains the upstream body or any key. ``status`` is the upstream HTTP status, if
    any. ``retryable`` means a fallback is worth trying (5xx, timeouts, connection errors, 429,
    404 model). ``started`` is set when the error came after the first event was yielded, when it
    is too late for a fallback and the API layer sends an ``error`` event instead.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        started: bool = False,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown ProviderError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.started = started

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.kind!r}, {self.message!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, started={self.started!r})"
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(status: int, *, retry_after: float | None = None, kind: str | None = None) -> ProviderError:
    """The common HTTP status mapping; adapters refine it in their ``_map_status``."""
    if kind is None:
        if status in (401, 403):
            kind = "invalid_api_key"
        elif status == 404:
            kind = "model_not_available"
        elif status == 429:
            kind = "upstream_rate_limited"
        elif status in (400, 413, 422):
            kind = "invalid_request"
        else:
            kind = "upstream_error"
    message, retryable = _STATUS_TEXT[kind]
    if kind == "upstream_error":
        retryable = status >= 500
    if kind == "upstream_rate_limited" and retry_after is not None:
        message = f"{message} Retry after {math.ceil(retry_after)} s."
    return ProviderError(
        kind, f"{message} (HTTP {status})", status=status, retryable=retryable, retry_after=retry_after
    )


def malformed_event() -> ProviderError:
    return ProviderError("upstream_error", "The provider sent a malformed stream event.", retryable=True)


def truncated_stream(started: bool) -> ProviderError:
    """The body ended cleanly but without the vendor's end-of-answer marker."""
    return ProviderError(
        "upstream_error", "The provider's stream ended before it was complete.", retryable=True, started=started
    )


_STATUS_TEXT = {
    "invalid_api_key": ("The provider rejected the API key.", False),
    "model_not_available": ("The provider does not offer this model.", True),
    "upstream_rate_limited": ("The provider is rate limiting requests.", True),
    "invalid_request": ("The provider rejected the request as invalid.", False),
    "upstream_error": ("The provider failed to answer.", True),
    "upstream_timeout": ("The provider did not answer in time.", True),
    "invalid_base_url": ("The base URL is not allowed.", False),
}


def to_api_error(exc: ProviderError, endpoint: str) -> ApiError:
    """A provider failure as the contract's error (never the upstream body)."""
    context: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if exc.kind in ("invalid_api_key", "model_not_available", "upstream_error", "upstream_timeout"):
        context["endpoint"] = endpoint
    if exc.kind == "upstream_rate_limited":
        context["endpoint"] = endpoint
        if exc.retry_after is not None:
            seconds = max(1, round(exc.retry_after))
            headers["Retry-After"] = str(seconds)
            context["retry_after"] = seconds
    return ApiError(exc.kind, exc.message, status=STATUS.get(exc.kind, 502), headers=headers, **context)
