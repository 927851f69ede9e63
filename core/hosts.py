"""``ALLOWED_HOSTS`` for the channels routes (``/api/chat``, ``/v1``, ``/ws/chat/``), as Django
checks it for its own views: a request naming another host is refused before anything reads
it, so nothing downstream (the session's same-origin check compares against ``Host``) trusts it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from core.consumers import compact_json

log = logging.getLogger(__name__)

ASGIApp = Any


def host_allowed(scope: dict[str, Any]) -> bool:
    host = next((value for key, value in scope.get("headers", ()) if key == b"host"), b"")
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return _allowed(host, tuple(allowed))


@functools.lru_cache(maxsize=256)
def _allowed(host: bytes, allowed: tuple[str, ...]) -> bool:
    """Django's own check, kept per ``Host`` value and setting (every request asks it again)."""
    domain, _port = split_domain_port(host.decode("latin-1"))
    return bool(domain) and validate_host(domain, allowed)


class AllowedHosts:
    """ASGI middleware: 400 (HTTP) or a refused handshake (WebSocket) for a ``Host`` not allowed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or host_allowed(scope):
            await self.app(scope, receive, send)
            return
        log.warning("refused a request for a host not in ALLOWED_HOSTS (%s %s)", scope["type"], scope.get("path"))
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4400})
            return
        body = compact_json({"type": "invalid_request",
                             "message": "The Host header names a host this service does not serve (ALLOWED_HOSTS)."})  # fmt: skip
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
