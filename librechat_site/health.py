"""Liveness, readiness and metrics endpoints for operators."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from core.metrics import render


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; nothing else is checked."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the shared cache both answer."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the type says which
        checks["database"] = f"unavailable ({type(exc).__name__})"
    try:
        probe = uuid.uuid4().hex
        cache.set("readyz:probe", probe, timeout=10)
        checks["cache"] = "ok" if cache.get("readyz:probe") == probe else "inconsistent"
    except Exception as exc:  # as above
        checks["cache"] = f"unavailable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
