"""Protocol routing: chat streaming and the gateway are channels consumers; the
rest (admin, pages, REST resources) is the Django application."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from endpoints.consumers import http_routes, websocket_routes
from endpoints.gateway import gateway_routes


def build_application(django_app: Any) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            "http": URLRouter([*http_routes, *gateway_routes, re_path(r"", django_app)]),
            "websocket": URLRouter(websocket_routes),
        }
    )
