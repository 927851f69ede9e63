"""The read API (CONTRACT §3): thin DRF views over ``endpoints.listing``."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import listing
from .errors import ApiError


def _models(request: Request) -> tuple[listing.Snapshot, dict[str, list[str]]]:
    snapshot = listing.snapshot()
    return snapshot, async_to_sync(listing.models_by_endpoint)(snapshot, str(request.user.pk))


class EndpointsView(APIView):
    def get(self, request: Request) -> Response:
        snapshot, models = _models(request)
        return Response(listing.endpoints_config(snapshot, models))


class EndpointDetailView(APIView):
    def get(self, request: Request, name: str) -> Response:
        snapshot, models = _models(request)
        config = listing.endpoints_config(snapshot, models)
        if name not in config:
            raise ApiError("endpoint_not_found", f"There is no enabled endpoint named {name!r}.", endpoint=name)
        return Response(config[name])


class ModelsView(APIView):
    def get(self, request: Request) -> Response:
        return Response(_models(request)[1])


class ModelDetailsView(APIView):
    def get(self, request: Request) -> Response:
        snapshot, models = _models(request)
        return Response(listing.models_details(snapshot, models))
