"""The base of the hot HTTP paths (``/api/chat``, ``/v1/...``): a plain ASGI application that
answers in a task of its own, so it keeps reading the connection while it answers.

It keeps the shape of a channels ``AsyncHttpConsumer`` (``as_asgi()``, ``send_headers``,
``send_body``, ``send_response``) without its per-request costs, measured on the bare relay
(bench/RESULTS.md): a channels consumer opens a channel on the channel layer and listens on it
for every request, and closes old database connections before every message (a thread hop
each); none of that serves a request/response path.  Database connections are recycled where
they are used instead (the usage writer's thread).

Before any of the body is kept, the request is checked from its headers: the method, the
caller (:meth:`StreamingHttpConsumer.authenticate`) and a declared ``Content-Length``; the
body is then refused with 413 as soon as it passes ``settings.REQUEST_MAX_BYTES``.  So an
anonymous or oversized upload costs no memory.

When the client goes away (``http.disconnect``) the task is cancelled, which closes
whatever the answer was waiting on (the upstream request) and lets it settle.  Whatever
escapes the answer still ends the response: 503 when the shared cache is down (fail
closed), else a logged ``internal_error``, never a hanging client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

from django.conf import settings

from core.errors import ApiError
from core.sharedcache import CACHE_ERRORS, unavailable

log = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS = [(b"content-type", b"application/json")]


def compact_json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def internal_error() -> ApiError:
    return ApiError("internal_error", "The server failed to answer; the error was logged.", status=500)


def too_large() -> ApiError:
    limit = settings.REQUEST_MAX_BYTES
    return ApiError("invalid_request", f"The body is larger than {limit:,} bytes (REQUEST_MAX_BYTES).", status=413,
                    limit_bytes=limit)  # fmt: skip


class StreamingHttpConsumer:
    """Checks the request from its headers, reads a bounded body, then runs ``respond(body)`` in a
    task that is cancelled when the client disconnects before the response is complete."""

    method = "POST"
    _task: asyncio.Task[None] | None = None
    _checked = False
    _refused = False
    _size = 0
    started = False  # the response's status line went out: errors now go in the body
    complete = False  # the response's last byte went out

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.scope: dict[str, Any] = {}
        self._send: Any = None

    @classmethod
    def as_asgi(cls) -> Any:  # Any, as channels types it, so Django's re_path() takes it
        """An ASGI application answering each request with a new instance."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls()(scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]  # as channels' routers expect
        return app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope, self._send = scope, send
        while True:
            message = await receive()
            if message["type"] == "http.request":
                await self.http_request(message)
            elif message["type"] == "http.disconnect":
                await self.http_disconnect(message)
                return

    async def send_headers(self, *, status: int = 200, headers: Any = None) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers or []})

    async def send_body(self, body: bytes, *, more_body: bool = False) -> None:
        if not more_body:
            self.complete = True
        await self._send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def send_response(self, status: int, body: bytes, *, headers: Any = None) -> None:
        await self.send_headers(status=status, headers=headers)
        await self.send_body(body)

    async def authenticate(self) -> ApiError | None:
        """Who is asking, from the headers alone; an error refuses the request unread."""
        return None

    async def _check(self) -> ApiError | None:
        if self.scope["method"] != self.method:
            return ApiError("method_not_allowed", f"Use {self.method}.", status=405, headers={"Allow": self.method})
        declared = next((v for k, v in self.scope.get("headers", ()) if k == b"content-length"), b"")
        error = await self.authenticate()
        if error is None and declared.isdigit() and int(declared) > settings.REQUEST_MAX_BYTES:
            error = too_large()
        return error

    async def http_request(self, message: dict[str, Any]) -> None:
        if self._refused:
            return
        if not self._checked:
            self._checked = True
            error = await self._guarded(self._check())
            if error is not None:
                self._refused = True
                await self.fail(error)
                return
        chunk = message.get("body", b"")
        self._size += len(chunk)
        if self._size > settings.REQUEST_MAX_BYTES:
            self._refused, self.body = True, []
            await self.fail(too_large())
            return
        self.body.append(chunk)
        if not message.get("more_body"):
            self._task = asyncio.ensure_future(self._run(b"".join(self.body)))
            self.body = []

    async def _guarded(self, check: Any) -> ApiError | None:
        try:
            result: ApiError | None = await check
        except CACHE_ERRORS as exc:
            log.warning("shared cache unavailable checking %s: %s", self.scope.get("path"), type(exc).__name__)
            return unavailable()
        return result

    async def _run(self, body: bytes) -> None:
        try:
            await self.respond(body)
        except asyncio.CancelledError:
            raise
        except CACHE_ERRORS as exc:
            log.warning("shared cache unavailable answering %s: %s", self.scope.get("path"), type(exc).__name__)
            await self.fail(unavailable())
        except Exception:
            log.exception("unhandled error answering %s", self.scope.get("path"))
            await self.fail(internal_error())

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        """The client went away, or the response is complete (servers say so by the same message):
        a chat still answering is cancelled; one that answered finishes its bookkeeping."""
        task = self._task
        if task is not None and not task.done():
            if not self.complete:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def respond(self, body: bytes) -> None:
        raise NotImplementedError

    async def fail(self, error: ApiError) -> None:
        """End the response with ``error``: its status before the body began, else in the body."""
        if not self.started:
            await self.send_error(error)
        else:
            await self.send_body(self.error_frame(error), more_body=False)

    async def send_error(self, error: ApiError) -> None:
        headers = JSON_HEADERS + [(k.lower().encode(), v.encode("latin-1")) for k, v in error.headers.items()]
        await self.send_response(error.status, compact_json(error.body()), headers=headers)

    def error_frame(self, error: ApiError) -> bytes:
        """The last frame of a stream that failed after it began (the contract's ``error`` event)."""
        return b"event: error\ndata: " + compact_json(error.body()) + b"\n\n"
