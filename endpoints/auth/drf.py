"""API authentication: DRF tokens sent as ``Authorization: Token <key>`` or
``Authorization: Bearer <key>`` (what OpenAI SDKs and LibreChat clients send)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.request import Request

from endpoints.auth.tokens import caller_for_token


class BearerOrTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in (b"token", b"bearer"):
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: send `Bearer <token>`.")
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        caller = caller_for_token(key)
        if caller is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        # A user built from the cached fields: enough for every API view (they use its
        # id and flags), and no query per request.
        user = get_user_model()(
            pk=caller.id, username=caller.username, email=caller.email, is_staff=caller.is_staff,
            is_superuser=caller.is_superuser, is_active=True,
        )  # fmt: skip
        user._state.adding = False
        user._state.db = "default"
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
