"""``POST /api/chat``: the contract's SSE events, or the final object when ``stream`` is false.

The chat runs in the consumer's answer task (``core.consumers``): a client that disconnects
cancels it, which closes the upstream request and settles the chat.
"""

from __future__ import annotations

from contextlib import aclosing

from channels.sessions import SessionMiddlewareStack
from django.urls import re_path

from core.caller import Caller
from core.clientip import client_ip
from core.consumers import JSON_HEADERS, SSE_HEADERS, StreamingHttpConsumer, compact_json, internal_error
from core.errors import ApiError
from endpoints.auth.asgi import authenticate
from endpoints.chat.events import TERMINAL, Error
from endpoints.chat.session import ChatSession, final_of
from endpoints.transports.payloads import final_data, sse_frame


class ChatConsumer(StreamingHttpConsumer):
    caller: Caller | None = None

    async def authenticate(self) -> ApiError | None:
        self.caller, how = await authenticate(self.scope)
        if self.caller is None:
            return ApiError("not_authenticated", how, status=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def respond(self, body: bytes) -> None:
        caller = self.caller
        assert caller is not None  # authenticate() refused anonymous requests
        session = ChatSession(caller, via="api", client_ip=client_ip(self.scope))
        async with aclosing(session.run(body)) as events:
            first = await anext(events)
            if isinstance(first, Error):  # refused before the answer began: an HTTP status
                await self.send_error(first.error)
                return
            assert session.call is not None
            if not session.call.stream:
                try:
                    final = await final_of(events)
                except ApiError as error:
                    await self.send_error(error)
                    return
                data = final_data(final)
                if final.kind != "final":
                    data = {"event": final.kind, **data}
                await self.send_response(200, compact_json(data), headers=JSON_HEADERS)
                return
            await self.send_headers(status=200, headers=SSE_HEADERS)
            await self.send_body(sse_frame(first), more_body=True)
            async for event in events:
                ended = isinstance(event, TERMINAL)
                await self.send_body(sse_frame(event), more_body=not ended)
                if ended:
                    return
        await self.fail(internal_error())  # a session ends with a terminal event; never leave the client waiting


#: ``POST /api/chat`` as an ASGI application (``librechat_site.routing`` sends it there directly).
chat_app = SessionMiddlewareStack(ChatConsumer.as_asgi())
http_routes = [re_path(r"^api/chat/?$", chat_app)]
