"""Anthropic's Messages API at the gateway: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

A message is a chat session like a completion's (keys, limits, budgets, fallbacks, usage with
``via="gateway"``), for any configured endpoint whatever its wire format: the body becomes a
``ChatCall`` (:mod:`endpoints.gateway.anthropic_request`) and the session's events are written as
Anthropic's ``message`` object or event stream (:mod:`endpoints.gateway.anthropic_format`).
``model`` is ``"<endpoint>/<model id>"`` or a bare id offered by one endpoint, as on
``/v1/chat/completions``; answers name the model that answered the same way.  Clients
authenticate as Anthropic's SDKs do (``x-api-key``, or ``Authorization: Bearer``) with a token of
this service; ``anthropic-version`` is accepted, whatever its value.

``count_tokens`` asks the upstream's own counter where its API has one (Anthropic's
``count_tokens``, Gemini's ``countTokens``) and otherwise — or when that counter fails — estimates
from the prompt (``endpoints.providers.estimate``); the ``x-token-count`` header says which
(``upstream`` or ``estimated``).  Counting is not a chat: no limits, no usage row.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from django.urls import re_path

from core.caller import Caller
from core.consumers import SSE_HEADERS, compact_json, internal_error
from core.errors import ApiError
from endpoints.catalog.snapshot import aget_snapshot
from endpoints.chat.events import Created, Error, Event, Final
from endpoints.chat.request import ChatCall, decode_json
from endpoints.chat.route import Route, resolve
from endpoints.chat.session import ChatSession, chat_request, final_of
from endpoints.gateway.anthropic_format import EventWriter, error_frame, message, message_id
from endpoints.gateway.anthropic_request import MessagesRequest, parse_messages
from endpoints.gateway.consumers import GatewayConsumer
from endpoints.gateway.names import resolve_model
from endpoints.providers import get_provider
from endpoints.providers.base import TextDelta, ToolCallDelta
from endpoints.providers.errors import ProviderError
from endpoints.providers.estimate import prompt_tokens

log = logging.getLogger(__name__)


def _metadata_user(data: dict[str, Any]) -> Any:
    metadata = data.get("metadata")
    return metadata.get("user_id") if isinstance(metadata, dict) else None


class AnthropicConsumer(GatewayConsumer):
    """A route of Anthropic's API: its auth hint and error bodies."""

    method = "POST"
    auth_hint = "Pass your API token as the Anthropic api_key (x-api-key: <token>, or Authorization: Bearer <token>)."

    def speaks_anthropic(self) -> bool:
        return True


def _request_ids(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"request-id", request_id.encode()), (b"x-request-id", request_id.encode())]


class MessagesConsumer(AnthropicConsumer):
    """``POST /v1/messages``: a ``message``, or its server-sent events with ``stream: true``."""

    request: MessagesRequest | None = None

    async def answer(self, caller: Caller, body: bytes) -> None:
        try:
            caller, data = await self.for_whom(body, "metadata.user_id", _metadata_user)
        except ApiError as error:
            await self.send_error(error)
            return
        session = ChatSession(caller, via="gateway", client_ip=self.client_key(caller))

        async def parse(value: Any) -> ChatCall:
            self.request = request = parse_messages(value)
            session.call = call = request.call  # recorded as asked for, even if no endpoint offers it
            call.endpoint, call.model = await resolve_model(await aget_snapshot(), request.model, str(caller.id))
            return call

        session.parse = parse
        request_ids = _request_ids(session.request_id)
        async with aclosing(session.run(data)) as events:
            first = await anext(events)
            if isinstance(first, Error):
                await self.send_error(first.error, request_ids)
                return
            assert isinstance(first, Created) and self.request is not None
            call = self.request.call
            model, msg_id = "/".join(first.answering), message_id(session.request_id)
            if not call.stream:
                try:
                    final = await final_of(events)
                except ApiError as error:
                    await self.send_error(error, request_ids)
                    return
                await self.send_json(compact_json(message(final, msg_id, model)), request_ids)
                return
            await self.send_headers(status=200, headers=[*SSE_HEADERS, *request_ids])
            writer = EventWriter(msg_id, model)
            await self.send_body(writer.start(prompt_tokens(call.messages, call.tools)), more_body=True)
            await self.stream(events, writer)

    async def stream(self, events: AsyncIterator[Event], writer: EventWriter) -> None:
        async for event in events:
            if isinstance(event, TextDelta):
                frame = writer.text(event.text)
            elif isinstance(event, ToolCallDelta):
                frame = writer.tool_call(event)
            elif isinstance(event, Final):
                await self.send_body(writer.finish(event), more_body=False)
                return
            elif isinstance(event, Error):
                await self.send_body(error_frame(event.error), more_body=False)
                return
            else:  # fallback steps: the message's model already names who answers
                continue
            if frame:
                await self.send_body(frame, more_body=True)
        await self.fail(internal_error())  # a session ends with a terminal event; never leave the client waiting


class CountTokensConsumer(AnthropicConsumer):
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": n}`` for a Messages body (no ``max_tokens``)."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        try:
            caller, data = await self.for_whom(body, "metadata.user_id", _metadata_user)
            request = parse_messages(decode_json(data) if isinstance(data, bytes) else data, counting=True)
            snapshot = await aget_snapshot()
            endpoint, model = await resolve_model(snapshot, request.model, str(caller.id))
            route = await resolve(snapshot, caller, request.call, endpoint, model)
        except ApiError as error:
            await self.send_error(error)
            return
        tokens, how = await count_prompt(route, request.call, caller)
        await self.send_json(compact_json({"input_tokens": tokens}), [(b"x-token-count", how)])


async def count_prompt(route: Route, call: ChatCall, caller: Caller) -> tuple[int, bytes]:
    """The upstream's count where it has a counter, else (or when it fails) the estimate."""
    try:
        counted = await get_provider(route.target).count_tokens(chat_request(call, route, caller))
    except ProviderError as error:
        log.info("count_tokens: the counter of %s failed (%s); estimating", route.endpoint.name, error.kind)
        counted = None
    if counted is not None:
        return counted, b"upstream"
    return prompt_tokens(call.messages, call.tools, route.target.kind), b"estimated"


messages_routes = [
    re_path(r"^v1/messages/count_tokens/?$", CountTokensConsumer.as_asgi()),
    re_path(r"^v1/messages/?$", MessagesConsumer.as_asgi()),
]
