"""The contract's error body: ``{"type", "message", …context}`` (CONTRACT §7).

DRF's own exceptions (authentication, validation, 404 …) are rewritten into
that shape, so every JSON error of the API looks the same."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

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


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError):
        return Response(exc.body(), status=exc.status, headers=exc.headers)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"type": "invalid_request", "message": "The request is not valid.", "errors": exc.detail}
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response.data = {
            "type": "not_authenticated",
            "message": str(exc.detail) + " Send `Authorization: Bearer <token>` or sign in.",
        }
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid_request"
        response.data = {"type": code, "message": str(exc.detail)}
    return response
