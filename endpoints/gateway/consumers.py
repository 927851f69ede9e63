"""The OpenAI-compatible gateway (CONTRACT §6): ``GET /v1/models``,
``GET /v1/models/<id>`` and ``POST /v1/chat/completions``.

Any configured chat endpoint is reachable with OpenAI's SDKs: ``model`` is
``"<endpoint>/<model id>"``, or a bare model id when exactly one endpoint
offers it (:mod:`endpoints.gateway.names`).  A completion is a chat session like
``/api/chat``'s (keys, limits, budgets, fallbacks, usage with ``via="gateway"``);
this module renders its events in OpenAI's format (:mod:`endpoints.gateway.openai_format`).

Responses name the model that answered as ``"<endpoint>/<model id>"``, so a
fallback shows, and the same string can be sent back as ``model``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

from django.urls import re_path

from core.caller import Caller
from core.clientip import client_ip
from core.consumers import JSON_HEADERS, SSE_HEADERS, StreamingHttpConsumer, compact_json, internal_error
from core.errors import ApiError
from endpoints.auth.asgi import authenticate
from endpoints.catalog.snapshot import aget_snapshot
from endpoints.chat.events import Created, Error, Event, Final
from endpoints.chat.request import ChatCall
from endpoints.chat.session import ChatSession, final_of
from endpoints.gateway.names import model_ids, model_object, offered_models, resolve_model
from endpoints.gateway.openai_format import (
    DONE,
    ChunkWriter,
    GatewayRequest,
    completion,
    error_body,
    error_frame,
    parse_request,
)
from endpoints.providers.base import TextDelta, ToolCallDelta


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    return name.encode(), value.encode("latin-1")


class GatewayConsumer(StreamingHttpConsumer):
    """Authenticates by token and answers errors in OpenAI's ``{"error": {…}}`` shape."""

    method = "GET"
    caller: Caller | None = None

    async def authenticate(self) -> ApiError | None:
        self.caller, how = await authenticate(self.scope)
        if self.caller is None:
            # OpenAI's SDKs send the key as a Bearer token: ours is the API token.
            message = f"{how} Pass your API token as the OpenAI api_key (Authorization: Bearer <token>)."
            return ApiError("not_authenticated", message, status=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def respond(self, body: bytes) -> None:
        assert self.caller is not None  # authenticate() refused anonymous requests
        await self.answer(self.caller, body)

    async def answer(self, caller: Caller, body: bytes) -> None:
        raise NotImplementedError

    async def send_error(self, error: ApiError, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        headers = [*JSON_HEADERS, *extra, *(_header(k.lower(), v) for k, v in error.headers.items())]
        await self.send_response(error.status, error_body(error), headers=headers)

    def error_frame(self, error: ApiError) -> bytes:
        return error_frame(error)

    async def send_json(self, data: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.send_response(200, data, headers=[*JSON_HEADERS, *extra])


class ModelsConsumer(GatewayConsumer):
    """``GET /v1/models``: OpenAI's list of models."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        ids = model_ids(await offered_models(await aget_snapshot(), str(caller.id)))
        data = [model_object(model_id, owner) for model_id, owner in ids.items()]
        await self.send_json(compact_json({"object": "list", "data": data}))


class ModelConsumer(GatewayConsumer):
    """``GET /v1/models/<id>``: one model of the list, or ``model_not_available``."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        model_id = self.scope["url_route"]["kwargs"]["model"]
        owner = model_ids(await offered_models(await aget_snapshot(), str(caller.id))).get(model_id)
        if owner is None:
            await self.send_error(ApiError("model_not_available", f"There is no model {model_id!r}; GET /v1/models "
                                           "lists them.", model=model_id))  # fmt: skip
            return
        await self.send_json(compact_json(model_object(model_id, owner)))


class CompletionsConsumer(GatewayConsumer):
    """``POST /v1/chat/completions``: a ``chat.completion``, or ``chat.completion.chunk`` frames."""

    method = "POST"
    request: GatewayRequest | None = None

    async def answer(self, caller: Caller, body: bytes) -> None:
        session = ChatSession(caller, via="gateway", client_ip=client_ip(self.scope))

        async def parse(data: Any) -> ChatCall:
            self.request = request = parse_request(data)
            session.call = call = request.call  # recorded as asked for, even if no endpoint offers it
            call.endpoint, call.model = await resolve_model(await aget_snapshot(), request.model, str(caller.id))
            return call

        session.parse = parse
        request_id = [_header("x-request-id", session.request_id)]
        async with aclosing(session.run(body)) as events:
            first = await anext(events)
            if isinstance(first, Error):
                await self.send_error(first.error, request_id)
                return
            assert isinstance(first, Created) and self.request is not None
            model = "/".join(first.answering)
            completion_id = "chatcmpl-" + session.request_id.removeprefix("req_")
            created = int(time.time())
            if not self.request.call.stream:
                try:
                    final = await final_of(events)
                except ApiError as error:
                    await self.send_error(error, request_id)
                    return
                await self.send_json(compact_json(completion(final, completion_id, created, model)), request_id)
                return
            await self.send_headers(status=200, headers=[*SSE_HEADERS, *request_id])
            chunks = ChunkWriter(completion_id, created, model, include_usage=self.request.include_usage)
            await self.send_body(chunks.role(), more_body=True)
            await self.stream(events, chunks)

    async def stream(self, events: AsyncIterator[Event], chunks: ChunkWriter) -> None:
        assert self.request is not None
        async for event in events:
            if isinstance(event, TextDelta):
                frame = chunks.text(event.text)
            elif isinstance(event, ToolCallDelta):
                frame = chunks.tool_call(event)
            elif isinstance(event, Final):
                frame = chunks.finish(event.finish_reason)
                if self.request.include_usage:
                    frame += chunks.usage(event)
                await self.send_body(frame + DONE, more_body=False)
                return
            elif isinstance(event, Error):
                await self.send_body(error_frame(event.error), more_body=False)
                return
            else:  # fallback steps and tool progress: the chunks' model already names who answers
                continue
            await self.send_body(frame, more_body=True)
        await self.fail(internal_error())  # a session ends with a terminal event; never leave the client waiting


gateway_routes = [
    re_path(r"^v1/models/?$", ModelsConsumer.as_asgi()),
    re_path(r"^v1/models/(?P<model>.+)$", ModelConsumer.as_asgi()),
    re_path(r"^v1/chat/completions/?$", CompletionsConsumer.as_asgi()),
]
