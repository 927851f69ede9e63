"""``/api/tokens``: a person's named API tokens (``endpoints.auth.personal``).

* ``GET /api/tokens`` -> ``{"results": [token, …]}``, the caller's tokens that were not
  revoked; staff may ask ``?user=all`` for everyone's.
* ``POST /api/tokens`` ``{name, expires_at?}`` -> 201, the token **with its key**, shown
  this once.
* ``DELETE /api/tokens/<id>`` -> 204: revoked (staff may revoke anyone's); 404 otherwise.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApiError
from core.fields import TextField
from core.openapi.errors import error_responses
from endpoints.auth import personal
from endpoints.models import ApiToken


class TokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True, help_text="The owner's username.")
    state = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "kind", "user", "created_at", "last_used_at", "expires_at", "state"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The key: shown this once, never again.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    # Not trimmed here: the length limit is on what was sent (personal.create trims and refuses a blank name).
    name = TextField(max_length=100, trim_whitespace=False, help_text="What it is for, e.g. 'laptop'.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty or null: never.")


class TokenListSerializer(serializers.Serializer):
    results = TokenSerializer(many=True)


class TokensView(APIView):
    @extend_schema(
        operation_id="tokens_list",
        tags=["API tokens"],
        summary="List your API tokens",
        parameters=[OpenApiParameter("user", OpenApiTypes.STR, enum=["all"], description="Staff: everyone's tokens.")],
        responses={200: TokenListSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("user")
        if wanted not in (None, "all"):
            raise ApiError("invalid_request", "user may only be 'all'.", errors={"user": ["Must be all."]})
        if wanted == "all" and not request.user.is_staff:
            raise ApiError("permission_denied", "Only administrators can see everyone's tokens.", status=403)
        tokens = personal.everyone() if wanted == "all" else personal.active(request.user).select_related("user")
        return Response({"results": TokenSerializer(tokens, many=True).data})

    @extend_schema(
        operation_id="tokens_create",
        tags=["API tokens"],
        summary="Create an API token (its key is in this answer only)",
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer, **error_responses(400, 401)},
    )
    def post(self, request: Request) -> Response:
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            new = personal.create(request.user, data.validated_data["name"], data.validated_data.get("expires_at"))
        except personal.TokenError as exc:
            raise ApiError("invalid_request", exc.message, errors={exc.field: [exc.message]}) from None
        return Response({**NewTokenSerializer(new.token).data, "key": new.key}, status=201)


class TokenDetailView(APIView):
    @extend_schema(
        operation_id="token_revoke",
        tags=["API tokens"],
        summary="Revoke an API token",
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        token = personal.visible_to(request.user).filter(pk=pk).first()
        if token is None:
            raise ApiError("not_found", f"You have no token {pk} to revoke.", status=404)
        personal.revoke(token)
        return Response(status=204)
