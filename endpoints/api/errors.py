"""DRF's exceptions in the contract's error shape (CONTRACT §7).

DRF's own exceptions (authentication, validation, 404 …) are rewritten into
``{"type", "message", …}``, so every JSON error of the API looks the same."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import ApiError


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError):
        return Response(exc.body(), status=exc.status, headers=exc.headers)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"type": "invalid_request", "message": "The request is not valid.", "errors": exc.detail}
    elif isinstance(exc, exceptions.ParseError):
        message = f"The body is not valid JSON: {exc.detail}"
        response.data = {"type": "invalid_request", "message": message, "errors": {"body": [message]}}
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
