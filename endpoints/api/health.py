"""Health at a glance, for staff: ``/health/models/`` (with "test now") and ``GET /api/health/models``
(endpoints/routing/report.py builds both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError
from core.openapi.errors import error_responses
from endpoints.catalog.snapshot import get_snapshot
from endpoints.providers.http import from_sync
from endpoints.routing import checks, report

CHART_WIDTH, CHART_HEIGHT = 120, 24


class HealthModelsView(APIView):
    @extend_schema(operation_id="health_models", tags=["health"], summary="Every endpoint, model and deployment's health (staff)",
                   responses={200: OpenApiResponse(description="{endpoints: [{name, kind, models: [{id, strategy, deployments: [...]}]}]}"),
                              **error_responses(403)})  # fmt: skip
    def get(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise ApiError("permission_denied", "Only staff can see the health of the deployments.", status=403)
        return Response({"endpoints": report.health(get_snapshot())})


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


def _spark(chart: list[dict[str, int]]) -> dict[str, Any]:
    """Requests (and errors) per 5 minutes as bars of an inline SVG."""
    top = max((bucket["requests"] for bucket in chart), default=0) or 1
    slot = CHART_WIDTH / len(chart)
    bars = []
    for index, bucket in enumerate(chart):
        height = bucket["requests"] / top * CHART_HEIGHT
        errors = bucket["errors"] / top * CHART_HEIGHT
        bars.append({"x": round(index * slot + 1, 1), "width": round(slot - 2, 1), "y": round(CHART_HEIGHT - height, 1),
                     "height": round(height, 1), "error_y": round(CHART_HEIGHT - errors, 1),
                     "error_height": round(errors, 1), **bucket})  # fmt: skip
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _for_page(endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for endpoint in endpoints:
        for model in endpoint["models"]:
            for deployment in model["deployments"]:
                deployment["until_at"] = _when(deployment["until"])
                deployment["spark"] = _spark(deployment["chart"])
                if deployment["last_error"]:
                    deployment["last_error"]["when"] = _when(deployment["last_error"]["at"])
                if deployment["last_check"]:
                    deployment["last_check"]["when"] = _when(deployment["last_check"]["at"])
    return endpoints


@login_required
def health_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see the health of the deployments.")
    if request.method == "POST":  # "test now"
        endpoint, model, deployment = (request.POST.get(k, "") for k in ("endpoint", "model", "deployment"))
        result = from_sync(checks.test_now)(endpoint, model, deployment)
        level = messages.SUCCESS if result.ok else messages.ERROR
        messages.add_message(request, level, f"{endpoint}/{model} · {deployment}: {result.message}")
        return redirect("health-models")
    return render(request, "health.html", {"endpoints": _for_page(report.health(get_snapshot()))})
