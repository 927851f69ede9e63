"""Liveness, readiness and metrics endpoints for operators."""

from __future__ import annotations

import hmac
import ipaddress
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from core.clientip import request_ip
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


def metrics_allowed(request: HttpRequest) -> bool:
    """With ``METRICS_TOKEN`` set, only ``Authorization: Bearer <METRICS_TOKEN>``; without it, a
    client on this machine (loopback) or a signed-in staff member."""
    if settings.METRICS_TOKEN:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), settings.METRICS_TOKEN)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        return ipaddress.ip_address(request_ip(request.META)).is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return JsonResponse({"type": "permission_denied", "message": "The metrics are for operators: send "
                             "Authorization: Bearer <METRICS_TOKEN>, or sign in as staff."}, status=403)  # fmt: skip
    return HttpResponse(render(), content_type="text/plain; version=0.0.4; charset=utf-8")
