"""Protocol routing: which consumer serves which path."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path


def build_application(django_app: Any) -> ProtocolTypeRouter:
    http_routes: list[Any] = [re_path(r"", django_app)]
    ws_routes: list[Any] = []
    return ProtocolTypeRouter({"http": URLRouter(http_routes), "websocket": URLRouter(ws_routes)})
