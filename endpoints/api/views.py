"""The read API (CONTRACT §3): thin DRF views over ``endpoints.listing``.

A response is rendered once per configuration version and user, then served
from a process-local memo for up to a second (an edit or a newly fetched model
list shows within that), so its cost does not grow with the number of
endpoints and models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from core import memo
from core.errors import ApiError
from core.openapi import readapi
from core.openapi.errors import error_responses
from endpoints.api import listing
from endpoints.catalog.snapshot import Snapshot, get_snapshot

RESPONSE_SECONDS = 1.0

Build = Callable[[Snapshot, dict[str, list[str]]], Any]


def _answer(request: Request, name: str, build: Build) -> HttpResponse:
    snapshot = get_snapshot()
    key = f"api:{name}:{snapshot.version}:{request.user.pk}"
    body = memo.get(key)
    if body is memo.MISSING:
        models = listing.models_by_endpoint_sync(snapshot, str(request.user.pk))
        body = json.dumps(build(snapshot, models), separators=(",", ":")).encode()
        memo.put(key, body, RESPONSE_SECONDS)
    return HttpResponse(body, content_type="application/json")


class EndpointsView(APIView):
    @extend_schema(operation_id="endpoints_list", tags=["endpoints and models"], summary="The enabled endpoints in LibreChat's shape, with the models you may use",
                   responses={200: readapi.ENDPOINTS, **error_responses()})  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        return _answer(request, "endpoints", listing.endpoints_config)


class EndpointDetailView(APIView):
    @extend_schema(
        operation_id="endpoint_get",
        tags=["endpoints and models"],
        summary="One endpoint",
        responses={200: readapi.ENDPOINT_CONFIG, **error_responses(404, only=("endpoint_not_found",))},
    )
    def get(self, request: Request, name: str) -> HttpResponse:
        snapshot = get_snapshot()
        if name not in snapshot.endpoints:
            raise ApiError("endpoint_not_found", f"There is no enabled endpoint named {name!r}.", endpoint=name)
        return _answer(request, f"endpoint:{name}", lambda s, m: listing.endpoints_config(s, m)[name])


class ModelsView(APIView):
    @extend_schema(
        operation_id="models_list",
        tags=["endpoints and models"],
        summary="Model ids by endpoint",
        responses={200: readapi.MODELS, **error_responses()},
    )
    def get(self, request: Request) -> HttpResponse:
        return _answer(request, "models", lambda _s, models: models)


class ModelDetailsView(APIView):
    @extend_schema(operation_id="models_details", tags=["endpoints and models"], summary="Each model's context window, capabilities, pricing and fallbacks",
                   responses={200: readapi.MODEL_DETAILS, **error_responses()})  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        return _answer(request, "models-details", listing.models_details)
