"""API authentication: DRF tokens sent as ``Authorization: Token <key>`` or
``Authorization: Bearer <key>`` (what OpenAI SDKs and LibreChat clients send)."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication


class BearerOrTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            request.META["HTTP_AUTHORIZATION"] = "Token " + header[7:]
        return super().authenticate(request)

    def authenticate_header(self, request):  # type: ignore[no-untyped-def]
        return "Bearer"
