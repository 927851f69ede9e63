"""Django's 404 and 500 pages, in the contract's JSON shape under ``/api/`` (CONTRACT §7) and in
OpenAI's under ``/v1/`` (CONTRACT §6): an API client never has to parse an HTML error page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

NOT_FOUND = "There is no such API path or resource; see /api/docs/."
SERVER_ERROR = "The server failed to answer; the error was logged."


def _api_error(request: HttpRequest, kind: str, message: str, status: int) -> JsonResponse | None:
    if request.path.startswith("/api/"):
        return JsonResponse({"type": kind, "message": message}, status=status)
    if request.path.startswith("/v1/"):
        error = {"message": message, "type": "invalid_request_error" if status < 500 else "api_error",
                 "param": None, "code": kind}  # fmt: skip
        return JsonResponse({"error": error}, status=status)
    return None


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(request, "not_found", NOT_FOUND, 404) or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _api_error(request, "internal_error", SERVER_ERROR, 500) or defaults.server_error(request)
