"""Protocol routing: chat streaming and the gateway are ASGI consumers (``core.consumers``); the
rest (admin, pages, REST resources) is the Django application.

The two hot paths, ``/api/chat`` and ``/v1/chat/completions``, are found by one dictionary
look-up (:class:`HotPaths`) before channels' ``URLRouter`` tries its patterns one by one."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from core.hosts import AllowedHosts
from endpoints.gateway.consumers import completions_app, gateway_routes
from endpoints.gateway.messages import messages_routes
from endpoints.transports.http import chat_app, http_routes
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
            from endpoints.chat.session import drain
            from endpoints.providers.http import aclose_clients

            await drain()  # usage rows still being written: never lost to a graceful shutdown
            await aclose_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return


class HotPaths:
    """Plain ASGI routing: a request for one of ``paths`` (exactly, as its route's pattern would
    match it) goes straight to its application, with the ``url_route`` that ``URLRouter`` would
    have given it; anything else goes to ``rest``."""

    def __init__(self, paths: dict[str, Any], rest: Any) -> None:
        self.paths = {variant: app for path, app in paths.items() for variant in (path, path + "/")}
        self.rest = rest

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = None if scope.get("root_path") else self.paths.get(scope["path"])
        if app is None:
            await self.rest(scope, receive, send)
            return
        await app({**scope, "path_remaining": "", "url_route": {"args": (), "kwargs": {}}}, receive, send)


def build_application(django_app: Any) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            # ALLOWED_HOSTS for the channels routes too (Django's views check it again themselves).
            "http": AllowedHosts(
                HotPaths(
                    {"/api/chat": chat_app, "/v1/chat/completions": completions_app},
                    URLRouter([*http_routes, *gateway_routes, *messages_routes, re_path(r"", django_app)]),
                )
            ),
            "websocket": AllowedHosts(URLRouter(websocket_routes)),
            "lifespan": lifespan,
        }
    )
