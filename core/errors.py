"""The contract's error body: ``{"type", "message", …context}`` (CONTRACT §7).

Raised anywhere below a front end; each front end writes it in its own shape
(``endpoints.api.errors`` for DRF views, the transports and the gateway for theirs)."""

from __future__ import annotations

from typing import Any

STATUS = {
    "invalid_request": 400,
    "endpoint_not_found": 404,
    "model_not_available": 404,
    "no_user_key": 400,
    "expired_user_key": 400,
    "invalid_user_key": 400,
    "invalid_base_url": 400,
    "invalid_api_key": 401,
    "budget_exceeded": 402,
    "rate_limit_exceeded": 429,
    "concurrent_limit": 429,
    "upstream_rate_limited": 429,
    "rate_limit_unavailable": 503,
    "upstream_error": 502,
    "upstream_timeout": 504,
    "not_authenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "method_not_allowed": 405,
}


class ApiError(Exception):
    """An error of the contract, raised anywhere below a view."""

    def __init__(
        self,
        type: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.status = status or STATUS.get(type, 400)
        self.headers = headers or {}
        self.context = context

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, **self.context}
