"""``/ws/chat/``: send a chat body as JSON, receive ``{"event", "data"}`` messages.

One chat at a time per socket; a new message while one runs is refused.  Closing the socket
cancels the running chat (the upstream is closed and the chat settled, as over HTTP).  Every
chat ends with a terminal message (``final``, ``requires_action`` or ``error``); an error before
the answer began carries the HTTP ``status`` it would have had.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing, suppress
from typing import Any

from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.sessions import SessionMiddlewareStack
from django.urls import re_path

from core.clientip import client_ip
from core.consumers import internal_error
from core.errors import ApiError
from endpoints.auth.asgi import BEARER_PROTOCOL, authenticate, websocket_token
from endpoints.chat.events import Error
from endpoints.chat.request import decode_json
from endpoints.chat.session import ChatSession
from endpoints.transports.payloads import payload

log = logging.getLogger(__name__)


class ChatSocketConsumer(AsyncJsonWebsocketConsumer):
    _task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.caller, _reason = await authenticate(self.scope, websocket=True)
        if self.caller is None:
            await self.close(code=4401)
            return
        # A browser that offered its token as a subprotocol wants one chosen back: "bearer", never the token.
        await self.accept(BEARER_PROTOCOL if websocket_token(self.scope) else None)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None:
            await self.refuse(ApiError("invalid_request", "Send each chat as a JSON text message, not binary."))
            return
        try:
            content = decode_json(text_data.encode("utf-8", "surrogatepass"))
        except ApiError as error:
            await self.refuse(error)
            return
        if self._task is not None and not self._task.done():
            await self.refuse(ApiError("invalid_request", "A chat is already running on this socket."))
            return
        self._task = asyncio.ensure_future(self.chat(content))

    async def chat(self, content: Any) -> None:
        assert self.caller is not None  # connect() refused anonymous sockets
        session = ChatSession(self.caller, via="websocket", client_ip=client_ip(self.scope))
        try:
            async with aclosing(session.run(content)) as events:
                async for event in events:
                    name, data = payload(event)
                    if isinstance(event, Error) and not event.started:
                        data = {**data, "status": event.error.status}
                    await self.emit(name, data)
        except asyncio.CancelledError:
            raise
        except OSError:  # the client went away while we were sending (the server's ClientDisconnected)
            log.debug("chat %s: the WebSocket closed before its answer was sent", session.request_id)
        except Exception:
            log.exception("chat %s on a WebSocket failed", session.request_id)
            await self.refuse(internal_error())
        finally:
            await aclose_old_connections()

    async def refuse(self, error: ApiError) -> None:
        await self.emit("error", {**error.body(), "status": error.status})

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.send_json({"event": event, "data": data})

    async def disconnect(self, code: int) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


websocket_routes = [re_path(r"^ws/chat/?$", SessionMiddlewareStack(ChatSocketConsumer.as_asgi()))]
