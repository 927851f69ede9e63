"""The OpenAI-compatible gateway (CONTRACT §6): ``GET /v1/models``,
``GET /v1/models/<id>`` and ``POST /v1/chat/completions``.

Any configured chat endpoint is reachable with OpenAI's SDKs: ``model`` is
``"<endpoint>/<model id>"``, or a bare model id when exactly one endpoint
offers it.  A completion runs through the same :class:`ChatSession` as
``/api/chat`` (keys, limits, budgets, fallbacks, usage with ``via="gateway"``);
this module only translates (:mod:`endpoints.gateway_format`) and routes.

Responses name the model that answered as ``"<endpoint>/<model id>"``, so a
fallback shows, and the same string can be sent back as ``model``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.urls import re_path

from core.caller import Caller
from core.clientip import client_ip
from core.errors import ApiError
from endpoints.auth.asgi import authenticate
from endpoints.catalog.modelfetch import fetch_models
from endpoints.catalog.snapshot import EndpointInfo, Snapshot, aget_snapshot
from endpoints.chat.request import decode_json
from endpoints.chat.session import ChatSession
from endpoints.gateway.openai_format import (
    DONE,
    ChunkWriter,
    GatewayRequest,
    completion,
    error_body,
    error_frame,
    parse_request,
)
from endpoints.models import EndpointKind
from endpoints.transports.http import JSON_HEADERS, SSE_HEADERS, StreamingHttpConsumer
from usage import ledger as usage
from usage.models import Status

log = logging.getLogger(__name__)

#: Assistants endpoints need an assistant, not a chat completion: not offered here.
NOT_CHAT = frozenset({EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS})
#: ``created`` of the listed models: OpenAI's field is required, we know no better date.
STARTED = int(time.time())


# --- models ----------------------------------------------------------------------------


def chat_endpoints(snapshot: Snapshot) -> list[EndpointInfo]:
    return [e for e in snapshot.endpoints.values() if e.kind not in NOT_CHAT]


async def offered_models(snapshot: Snapshot, user_id: str) -> dict[str, list[str]]:
    """What each chat endpoint offers this user (the lists of ``GET /api/models``)."""
    endpoints = chat_endpoints(snapshot)
    lists = await asyncio.gather(*(fetch_models(e, user_id=user_id) for e in endpoints))
    return {e.name: models for e, models in zip(endpoints, lists, strict=True)}


def model_ids(offered: dict[str, list[str]]) -> dict[str, str]:
    """``{gateway model id: owning endpoint}``: every ``endpoint/model``, then the unambiguous bare ids."""
    ids: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    for name, models in offered.items():
        for model in models:
            ids.setdefault(f"{name}/{model}", name)
            names = owners.setdefault(model, [])
            if name not in names:
                names.append(name)
    for model, names in owners.items():
        if len(names) == 1:
            ids.setdefault(model, names[0])
    return ids


def _prefixed(snapshot: Snapshot, requested: str) -> tuple[EndpointInfo, str] | None:
    """The endpoint named before the first '/' of ``requested`` (longest name wins), and the rest."""
    best: tuple[EndpointInfo, str] | None = None
    for endpoint in chat_endpoints(snapshot):
        prefix = endpoint.name + "/"
        if requested.startswith(prefix) and len(requested) > len(prefix):
            if best is None or len(endpoint.name) > len(best[0].name):
                best = (endpoint, requested[len(prefix) :])
    return best


async def resolve_model(snapshot: Snapshot, requested: str, user_id: str) -> tuple[str, str]:
    """(endpoint, model id) for a gateway ``model``.

    ``<endpoint>/<model>`` wins when that endpoint offers the model (the common
    case costs no I/O when the model is configured); otherwise the whole string
    is tried as a bare id (model ids may hold slashes); a prefix that names an
    endpoint but no offered model is left to the session, which answers
    ``model_not_available`` or takes the endpoint's fallbacks, as ``/api/chat`` does.
    """
    prefixed = _prefixed(snapshot, requested)
    if prefixed is not None:
        endpoint, model = prefixed
        if endpoint.model(model) is not None or endpoint.user_provides_url:
            return endpoint.name, model
        if model in await fetch_models(endpoint, user_id=user_id):
            return endpoint.name, model
    offered = await offered_models(snapshot, user_id)
    owners = [
        name for name, models in offered.items() if requested in models or snapshot.endpoints[name].model(requested)
    ]
    if len(owners) == 1:
        return owners[0], requested
    if len(owners) > 1:
        candidates = [f"{name}/{requested}" for name in owners]
        raise ApiError("invalid_request", f"Several endpoints offer {requested!r}; name one: {', '.join(candidates)}.",
                       errors={"model": [f"Ambiguous; use one of {', '.join(candidates)}."]},
                       candidates=candidates)  # fmt: skip
    if prefixed is not None:
        return prefixed[0].name, prefixed[1]
    raise ApiError("model_not_available", f"No endpoint offers the model {requested!r}; GET /v1/models lists them.",
                   model=requested)  # fmt: skip


def model_object(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": owner}


# --- consumers -------------------------------------------------------------------------


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    return name.encode(), value.encode("latin-1")


class GatewayConsumer(StreamingHttpConsumer):
    """Authenticates by token and answers errors in OpenAI's ``{"error": {…}}`` shape."""

    method = "GET"

    async def respond(self, body: bytes) -> None:
        if self.scope["method"] != self.method:
            await self.send_error(
                ApiError("method_not_allowed", f"Use {self.method}.", status=405, headers={"Allow": self.method})
            )
            return
        caller, how = await authenticate(self.scope)
        if caller is None:
            # OpenAI's SDKs send the key as a Bearer token: ours is the DRF token.
            message = f"{how} Pass your API token as the OpenAI api_key (Authorization: Bearer <token>)."
            await self.send_error(ApiError("not_authenticated", message, status=401,
                                           headers={"WWW-Authenticate": "Bearer"}))  # fmt: skip
            return
        await self.answer(caller, body)

    async def answer(self, caller: Caller, body: bytes) -> None:
        raise NotImplementedError

    async def send_error(self, error: ApiError, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        headers = [*JSON_HEADERS, *extra, *(_header(k.lower(), v) for k, v in error.headers.items())]
        await self.send_response(error.status, error_body(error), headers=headers)

    async def send_json(self, data: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.send_response(200, data, headers=[*JSON_HEADERS, *extra])


class ModelsConsumer(GatewayConsumer):
    """``GET /v1/models``: OpenAI's list of models."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        ids = model_ids(await offered_models(await aget_snapshot(), str(caller.id)))
        data = [model_object(model_id, owner) for model_id, owner in ids.items()]
        await self.send_json(_dumps({"object": "list", "data": data}))


class ModelConsumer(GatewayConsumer):
    """``GET /v1/models/<id>``: one model of the list, or ``model_not_available``."""

    async def answer(self, caller: Caller, body: bytes) -> None:
        model_id = self.scope["url_route"]["kwargs"]["model"]
        owner = model_ids(await offered_models(await aget_snapshot(), str(caller.id))).get(model_id)
        if owner is None:
            await self.send_error(ApiError("model_not_available", f"There is no model {model_id!r}; GET /v1/models "
                                           "lists them.", model=model_id))  # fmt: skip
            return
        await self.send_json(_dumps(model_object(model_id, owner)))


class CompletionsConsumer(GatewayConsumer):
    """``POST /v1/chat/completions``: a ``chat.completion``, or ``chat.completion.chunk`` frames."""

    method = "POST"

    async def answer(self, caller: Caller, body: bytes) -> None:
        session = ChatSession(caller, via="gateway", client_ip=client_ip(self.scope))
        request_id = [_header("x-request-id", session.request_id)]
        data: Any = None
        try:
            data = decode_json(body)
            request = parse_request(data)
            call = request.call
            call.endpoint, call.model = await resolve_model(await aget_snapshot(), request.model, str(caller.id))
        except ApiError as error:
            await record_refusal(session, error, data)
            await self.send_error(error, request_id)
            return
        try:
            await session.start(call)
        except ApiError as error:
            await self.send_error(error, request_id)
            return
        assert session.route is not None
        model = f"{session.route.endpoint.name}/{session.route.model_id}"
        completion_id = "chatcmpl-" + session.request_id.removeprefix("req_")
        created = int(time.time())
        if not call.stream:
            try:
                final = await session.collect()
            except ApiError as error:
                await self.send_error(error, request_id)
                return
            await self.send_json(_dumps(completion(final, completion_id, created, model)), request_id)
            return
        await self.send_headers(status=200, headers=[*SSE_HEADERS, *request_id])
        await self.stream(session, ChunkWriter(completion_id, created, model, include_usage=request.include_usage),
                          request)  # fmt: skip

    async def stream(self, session: ChatSession, chunks: ChunkWriter, request: GatewayRequest) -> None:
        try:
            async for name, data in session.events():
                if name == "delta":
                    calls = data.get("tool_calls")
                    frame = chunks.text(data["text"]) if calls is None else chunks.tool_calls(calls)
                elif name == "created":
                    frame = chunks.role()
                elif name == "final":
                    frame = chunks.finish(data["finish_reason"])
                    if request.include_usage:
                        frame += chunks.usage(data["usage"])
                    frame += DONE
                elif name == "error":
                    frame = error_frame(data)
                else:  # "fallback": the chunks' model already names the endpoint that answers
                    continue
                await self.send_body(frame, more_body=True)
        except Exception:
            # A bug of ours after the first chunk: end the stream the way OpenAI ends a failed one.
            log.exception("gateway stream %s failed", session.request_id)
            frame = error_frame({"type": "internal_error", "message": "The server failed; the error was logged."})
            await self.send_body(frame, more_body=True)
        await self.send_body(b"", more_body=False)


async def record_refusal(session: ChatSession, error: ApiError, data: Any) -> None:
    """The usage row of a request refused before it reached a session (one per request, as on /api/chat)."""
    model = data.get("model") if isinstance(data, dict) else None
    model = model if isinstance(model, str) else ""
    # Through the same batched writer as every chat: pending and final become one INSERT.
    usage.begin(request_id=session.request_id, user_id=session.caller.id, via=session.via, endpoint="",
                model=model, conversation_id="")  # fmt: skip
    await usage.finish(session.request_id, usage.Outcome(status=Status.ERROR, error_type=error.type), model=model)


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


gateway_routes = [
    re_path(r"^v1/models/?$", ModelsConsumer.as_asgi()),
    re_path(r"^v1/models/(?P<model>.+)$", ModelConsumer.as_asgi()),
    re_path(r"^v1/chat/completions/?$", CompletionsConsumer.as_asgi()),
]
