"""Channels consumers for the hot paths: ``POST /api/chat`` (SSE or JSON) and the
``/ws/chat/`` WebSocket.  Both drive the same :class:`ChatSession`.

A streaming response runs in its own task so that the consumer keeps reading
the connection: when the client goes away (``http.disconnect``) the task is
cancelled, which closes the upstream request and records what was used.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.sessions import SessionMiddlewareStack
from django.urls import re_path

from core.clientip import client_ip
from core.errors import ApiError
from endpoints.auth.asgi import authenticate
from endpoints.chat.request import decode_json
from endpoints.chat.session import ChatSession
from endpoints.limits import checks as limits
from endpoints.limits.checks import CACHE_ERRORS

log = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS = [(b"content-type", b"application/json")]
TERMINAL_EVENTS = frozenset({"final", "error", "requires_action"})


def sse_frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class StreamingHttpConsumer(AsyncHttpConsumer):
    """Runs ``respond(body)`` in a task and cancels it when the client disconnects."""

    _task: asyncio.Task[None] | None = None
    _started = False

    async def send_headers(self, *, status: int = 200, headers: Any = None) -> None:
        self._started = True
        await super().send_headers(status=status, headers=headers)

    async def http_request(self, message: dict[str, Any]) -> None:
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            self._task = asyncio.ensure_future(self._run(b"".join(self.body)))

    async def _run(self, body: bytes) -> None:
        try:
            await self.respond(body)
        except asyncio.CancelledError:
            raise
        except CACHE_ERRORS as exc:
            # The shared cache (tokens, configuration, limits) is down: fail closed, clearly.
            log.warning("shared cache unavailable answering %s: %s", self.scope.get("path"), type(exc).__name__)
            if not self._started:
                await self.send_error(limits.unavailable())
            else:
                await self.send_body(sse_frame("error", limits.unavailable().body()), more_body=False)
        except Exception:
            # A bug of ours must still end the response, never leave the client hanging.
            log.exception("unhandled error answering %s", self.scope.get("path"))
            error = ApiError("internal_error", "The server failed to answer; the error was logged.", status=500)
            if not self._started:
                await self.send_error(error)
            else:
                await self.send_body(sse_frame("error", error.body()), more_body=False)
        finally:
            await aclose_old_connections()

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        raise StopConsumer()

    async def respond(self, body: bytes) -> None:
        raise NotImplementedError

    async def send_error(self, error: ApiError) -> None:
        headers = JSON_HEADERS + [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await self.send_response(error.status, _json(error.body()), headers=headers)


class ChatConsumer(StreamingHttpConsumer):
    """``POST /api/chat``: the contract's SSE events, or the final object when ``stream`` is false."""

    async def respond(self, body: bytes) -> None:
        if self.scope["method"] != "POST":
            await self.send_error(ApiError("method_not_allowed", "Use POST.", status=405, headers={"Allow": "POST"}))
            return
        caller, how = await authenticate(self.scope)
        if caller is None:
            error = ApiError("not_authenticated", how, status=401, headers={"WWW-Authenticate": "Bearer"})
            await self.send_error(error)
            return
        session = ChatSession(caller, via="api", client_ip=client_ip(self.scope))
        await self._answer(session, body)

    async def _answer(self, session: ChatSession, body: bytes) -> None:
        try:
            await session.start(decode_json(body))
        except ApiError as error:
            await self.send_error(error)
            return
        assert session.call is not None
        if not session.call.stream:
            try:
                final = await session.collect()
            except ApiError as error:
                await self.send_error(error)
                return
            await self.send_response(200, _json(final), headers=JSON_HEADERS)
            return
        await self.send_headers(status=200, headers=SSE_HEADERS)
        async for name, data in session.events():
            await self.send_body(sse_frame(name, data), more_body=name not in TERMINAL_EVENTS)


class ChatSocketConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/chat/``: send a chat body as JSON, receive ``{"event", "data"}`` messages.

    One chat at a time per socket; a new message while one runs is refused.
    Closing the socket cancels the running chat (the upstream is closed and
    usage recorded, as over HTTP).
    """

    _task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.caller, _reason = await authenticate(self.scope, websocket=True)
        if self.caller is None:
            await self.close(code=4401)
            return
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self._task is not None and not self._task.done():
            await self.emit("error", ApiError("invalid_request", "A chat is already running on this socket.").body())
            return
        self._task = asyncio.ensure_future(self.chat(content))

    async def chat(self, content: Any) -> None:
        assert self.caller is not None  # connect() refused anonymous sockets
        session = ChatSession(self.caller, via="websocket", client_ip=client_ip(self.scope))
        try:
            await session.start(content)
            events = session.events()
            async for name, data in events:
                await self.emit(name, data)
        except ApiError as error:
            await self.emit("error", {**error.body(), "status": error.status})
        finally:
            await aclose_old_connections()

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.send_json({"event": event, "data": data})

    async def decode_json(self, text_data: str) -> Any:
        return decode_json(text_data.encode())

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ApiError as error:
            await self.emit("error", {**error.body(), "status": error.status})

    async def disconnect(self, code: int) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


http_routes = [re_path(r"^api/chat/?$", SessionMiddlewareStack(ChatConsumer.as_asgi()))]
websocket_routes = [re_path(r"^ws/chat/?$", SessionMiddlewareStack(ChatSocketConsumer.as_asgi()))]
