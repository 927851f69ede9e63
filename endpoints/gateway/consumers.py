"""The OpenAI-compatible gateway (CONTRACT §6): ``GET /v1/models``,
``GET /v1/models/<id>`` and ``POST /v1/chat/completions``; Anthropic's Messages API beside it
is :mod:`endpoints.gateway.messages`.

Any configured chat endpoint is reachable with OpenAI's SDKs: ``model`` is
``"<endpoint>/<model id>"``, or a bare model id when exactly one endpoint
offers it (:mod:`endpoints.gateway.names`).  A completion is a chat session like
``/api/chat``'s (keys, limits, budgets, fallbacks, usage with ``via="gateway"``);
this module renders its events in OpenAI's format (:mod:`endpoints.gateway.openai_format`).

Responses name the model that answered as ``"<endpoint>/<model id>"``, so a
fallback shows, and the same string can be sent back as ``model``.

Every route authenticates with ``Authorization: Bearer <token>`` or ``x-api-key: <token>``;
a service token may act for an end user (``endpoints.auth.endusers``): named by the
``X-End-User-*`` headers, else by the body (OpenAI ``user``, Anthropic ``metadata.user_id``).
``GET /v1/models`` answers in Anthropic's shape when asked with ``anthropic-version``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qs

from django.urls import re_path

from core.caller import Caller
from core.clientip import client_ip
from core.consumers import JSON_HEADERS, SSE_HEADERS, StreamingHttpConsumer, compact_json, internal_error
from core.errors import ApiError
from endpoints.auth import endusers
from endpoints.auth.asgi import Principal, identify
from endpoints.catalog.snapshot import aget_snapshot
from endpoints.chat.events import Created, Error, Event, Final
from endpoints.chat.request import ChatCall, decode_json
from endpoints.chat.session import ChatSession, final_of
from endpoints.gateway import anthropic_format
from endpoints.gateway.names import STARTED, model_ids, model_object, offered_models, resolve_model
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


def _has_header(scope: dict[str, Any], name: bytes) -> bool:
    return any(key == name for key, _value in scope.get("headers", ()))


class GatewayConsumer(StreamingHttpConsumer):
    """Authenticates by token (acting for an end user where a service token names one) and
    answers errors in OpenAI's ``{"error": {…}}`` shape, or Anthropic's for its clients."""

    method = "GET"
    caller: Caller | None = None
    principal: Principal | None = None
    #: Said to a client that sent no usable token.  OpenAI's SDKs send the key as a Bearer token.
    auth_hint = "Pass your API token as the OpenAI api_key (Authorization: Bearer <token>)."

    def speaks_anthropic(self) -> bool:
        """Whether errors go in Anthropic's shape (its clients send ``anthropic-version``)."""
        return False

    async def authenticate(self) -> ApiError | None:
        try:
            self.principal = await identify(self.scope)
        except ApiError as error:
            if error.type == "not_authenticated":
                error.message = f"{error.message} {self.auth_hint}"
            return error
        self.caller = self.principal.caller
        return None

    async def respond(self, body: bytes) -> None:
        assert self.caller is not None  # authenticate() refused anonymous requests
        await self.answer(self.caller, body)

    async def answer(self, caller: Caller, body: bytes) -> None:
        raise NotImplementedError

    async def for_whom(self, body: bytes, field: str, named: Callable[[dict[str, Any]], Any]) -> tuple[Caller, Any]:
        """The chat's caller, and its body (decoded when it had to be read): the end user the body
        names (``field``) when a service token's headers named none, else the authenticated caller."""
        principal = self.principal
        assert principal is not None  # authenticate() refused anonymous requests
        if principal.service is None or principal.named:
            return principal.caller, body
        try:
            data = decode_json(body)
        except ApiError:
            return principal.caller, body  # the session answers it, as for anyone
        ref = endusers.from_body(named(data) if isinstance(data, dict) else None, field)
        return (principal.caller if ref is None else await endusers.act_for(principal.service, ref)), data

    def client_key(self, caller: Caller) -> str:
        """The client address the per-address limit counts: an end user's own is unknown (they all
        come from their app's), so each is counted apart, under their app's address."""
        address = client_ip(self.scope)
        service = self.principal.service if self.principal else None
        return f"end-user:{caller.id}@{address}" if service is not None and caller.id != service.id else address

    async def send_error(self, error: ApiError, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        headers = [*JSON_HEADERS, *extra, *(_header(k.lower(), v) for k, v in error.headers.items())]
        if self.speaks_anthropic():
            request_id = next((v.decode() for k, v in extra if k == b"request-id"), None)
            await self.send_response(error.status, anthropic_format.error_body(error, request_id), headers=headers)
            return
        await self.send_response(error.status, error_body(error), headers=headers)

    def error_frame(self, error: ApiError) -> bytes:
        return anthropic_format.error_frame(error) if self.speaks_anthropic() else error_frame(error)

    async def send_json(self, data: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.send_response(200, data, headers=[*JSON_HEADERS, *extra])


class ModelsConsumer(GatewayConsumer):
    """``GET /v1/models``: OpenAI's list of models; Anthropic's pages when asked with ``anthropic-version``."""

    def speaks_anthropic(self) -> bool:
        return _has_header(self.scope, b"anthropic-version")

    async def answer(self, caller: Caller, body: bytes) -> None:
        ids = model_ids(await offered_models(await aget_snapshot(), str(caller.id)))
        if self.speaks_anthropic():
            query = {k: v[-1] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
            try:
                page = anthropic_format.model_page(list(ids), STARTED, query)
            except ApiError as error:
                await self.send_error(error)
                return
            await self.send_json(compact_json(page))
            return
        data = [model_object(model_id, owner) for model_id, owner in ids.items()]
        await self.send_json(compact_json({"object": "list", "data": data}))


class ModelConsumer(ModelsConsumer):
    """``GET /v1/models/<id>``: one model of the list (in Anthropic's shape when asked), or ``model_not_available``."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        model_id = self.scope["url_route"]["kwargs"]["model"]
        owner = model_ids(await offered_models(await aget_snapshot(), str(caller.id))).get(model_id)
        if owner is None:
            await self.send_error(ApiError("model_not_available", f"There is no model {model_id!r}; GET /v1/models "
                                           "lists them.", model=model_id))  # fmt: skip
            return
        if self.speaks_anthropic():
            await self.send_json(compact_json(anthropic_format.model_object(model_id, STARTED)))
            return
        await self.send_json(compact_json(model_object(model_id, owner)))


class CompletionsConsumer(GatewayConsumer):
    """``POST /v1/chat/completions``: a ``chat.completion``, or ``chat.completion.chunk`` frames."""

    method = "POST"
    request: GatewayRequest | None = None

    async def answer(self, caller: Caller, body: bytes) -> None:
        try:
            caller, data = await self.for_whom(body, "user", lambda data: data.get("user"))
        except ApiError as error:
            await self.send_error(error)
            return
        session = ChatSession(caller, via="gateway", client_ip=self.client_key(caller))

        async def parse(value: Any) -> ChatCall:
            self.request = request = parse_request(value)
            session.call = call = request.call  # recorded as asked for, even if no endpoint offers it
            call.endpoint, call.model = await resolve_model(await aget_snapshot(), request.model, str(caller.id))
            return call

        session.parse = parse
        request_id = [_header("x-request-id", session.request_id)]
        async with aclosing(session.run(data)) as events:
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


#: ``POST /v1/chat/completions`` as an ASGI application (``librechat_site.routing`` sends it there directly).
completions_app = CompletionsConsumer.as_asgi()
gateway_routes = [
    re_path(r"^v1/models/?$", ModelsConsumer.as_asgi()),
    re_path(r"^v1/models/(?P<model>.+)$", ModelConsumer.as_asgi()),
    re_path(r"^v1/chat/completions/?$", completions_app),
]
