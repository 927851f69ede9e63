"""``/api/keys``: users' own keys, as LibreChat's ``api/server/routes/keys.js`` (CONTRACT §4).

* ``PUT /api/keys`` ``{name, value, expiresAt}`` -> 201, empty body.  ``expiresAt`` is an ISO
  date, or empty/null/absent for a key that never expires (what LibreChat's client sends).
* ``GET /api/keys?name=X`` -> 200 ``{"expiresAt": "<ISO>" | "never" | null}``.
* ``DELETE /api/keys/<name>`` -> 204, also when there was no such key.
* ``DELETE /api/keys?all=true`` -> 204; without ``all=true`` 400 with LibreChat's
  ``{"error": "Specify either all=true to delete."}`` (plus the contract's fields).

LibreChat does not validate ``PUT``; here a malformed body is a 400 ``invalid_request`` with
``errors`` and an unsafe base URL a 400 ``invalid_base_url``.  No response carries a key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError
from core.fields import TextField
from core.openapi import readapi
from core.openapi.errors import error_responses
from endpoints.keys import store as userkeys

DELETE_ALL_HINT = "Specify either all=true to delete."  # LibreChat's exact text


@extend_schema_field({"type": ["string", "integer"], "description": "ISO 8601, epoch ms, or null: never"})
class ExpiryField(serializers.Field):
    """LibreChat's ``expiresAt``: an ISO 8601 date (or epoch milliseconds, as ``new Date()`` takes);
    empty, null or ``"never"`` for no expiry."""

    default_error_messages = {"invalid": "Send an ISO 8601 date such as 2025-01-31T12:00:00.000Z, or null for never."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> datetime | None:
        if data in ("", "never"):
            return None
        if isinstance(data, int | float) and not isinstance(data, bool):
            try:
                return datetime.fromtimestamp(data / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError):
                self.fail("invalid")
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            moment = parse_datetime(data.strip())
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def to_representation(self, value: Any) -> Any:  # pragma: no cover - write-only
        raise NotImplementedError


class KeyWriteSerializer(serializers.Serializer):
    name = TextField(max_length=100)
    value = TextField(write_only=True, trim_whitespace=False, max_length=userkeys.MAX_VALUE_LENGTH)
    expiresAt = ExpiryField()  # LibreChat's field name


def _body(request: Request) -> Any:
    try:
        return request.data
    except ParseError as exc:
        message = f"The body is not valid JSON ({exc.detail}): send {{name, value, expiresAt}}."
        raise ApiError("invalid_request", message, errors={"body": [message]}) from None


def _api_error(exc: userkeys.UserKeyError, name: str) -> ApiError:
    return ApiError(exc.type, exc.message, endpoint=name, errors={exc.field: [exc.message]})


class KeysView(APIView):
    @extend_schema(
        operation_id="keys_set",
        tags=["your provider keys"],
        summary="Store your key for an endpoint (as LibreChat)",
        request=KeyWriteSerializer,
        responses={201: None, **error_responses(400, only=("invalid_request", "invalid_base_url"))},
    )
    def put(self, request: Request) -> Response:
        serializer = KeyWriteSerializer(data=_body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            userkeys.set_key(request.user, data["name"], data["value"], data.get("expiresAt"))
        except userkeys.UserKeyError as exc:
            raise _api_error(exc, data["name"]) from None
        return Response(status=201)

    @extend_schema(operation_id="keys_status", tags=["your provider keys"], summary="When your key for an endpoint expires",
                   parameters=[OpenApiParameter("name", {"type": "string", "minLength": 1}, required=True)],
                   responses={200: readapi.KEY_STATUS, **error_responses(400)})  # fmt: skip
    def get(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        if not name:
            raise ApiError(
                "invalid_request", "Say which key: GET /api/keys?name=<endpoint>.", errors={"name": ["Required."]}
            )
        return Response({"expiresAt": userkeys.get_status(request.user, name).expires_json()})

    @extend_schema(operation_id="keys_delete_all", tags=["your provider keys"], summary="Delete all your keys", parameters=[OpenApiParameter("all", OpenApiTypes.STR,
                                                                                required=True, enum=["true"])],
                   responses={204: None, **error_responses(400)})  # fmt: skip
    def delete(self, request: Request) -> Response:
        if request.query_params.get("all") != "true":
            raise ApiError("invalid_request", DELETE_ALL_HINT, error=DELETE_ALL_HINT, errors={"all": [DELETE_ALL_HINT]})
        userkeys.delete_all(request.user)
        return Response(status=204)


class KeyDetailView(APIView):
    @extend_schema(
        operation_id="key_delete",
        tags=["your provider keys"],
        summary="Delete your key for an endpoint",
        responses={204: None, **error_responses()},
    )
    def delete(self, request: Request, name: str) -> Response:
        userkeys.delete_key(request.user, name)
        return Response(status=204)
