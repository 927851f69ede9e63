"""Protocol routing: chat streaming and the gateway are channels consumers; the
rest (admin, pages, REST resources) is the Django application."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from core.hosts import AllowedHosts
from endpoints.gateway.consumers import gateway_routes
from endpoints.gateway.messages import messages_routes
from endpoints.transports.http import http_routes
from endpoints.transports.websocket import websocket_routes


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI lifespan: warm what the first request would pay for; close upstream pools at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            from usage.pricing import catalog_price

            catalog_price("gpt-4o", "openAI")  # loads the genai-prices catalog once
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from endpoints.providers.http import aclose_clients

            await aclose_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_application(django_app: Any) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            # ALLOWED_HOSTS for the channels routes too (Django's views check it again themselves).
            "http": AllowedHosts(
                URLRouter([*http_routes, *gateway_routes, *messages_routes, re_path(r"", django_app)])
            ),
            "websocket": AllowedHosts(URLRouter(websocket_routes)),
            "lifespan": lifespan,
        }
    )
