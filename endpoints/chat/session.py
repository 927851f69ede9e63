"""One chat request: resolve endpoint/model/key -> limits -> provider -> fallbacks -> usage.

:meth:`ChatSession.start` does everything up to the first upstream event and
raises :class:`ApiError` for anything that fails before it (the transport then
answers with an HTTP error status); fallbacks are tried there and only there.
:meth:`ChatSession.events` then yields the contract's events (``created``,
``fallback``, ``delta``, ``final`` or ``error``).  Whatever happens, including
a client that goes away, the usage row is finalized exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from core import metrics
from core.admission import Admission
from core.caller import Caller
from core.errors import ApiError
from endpoints.catalog.snapshot import Snapshot, aget_snapshot
from endpoints.chat.request import ChatCall, parse_call
from endpoints.chat.route import Route, fallback_chain, provider_error, resolve_route
from endpoints.limits import checks as limits
from endpoints.providers import get_provider_class
from endpoints.providers.assistants import (
    ASSISTANTS_KINDS,
    AssistantsProvider,
    RequiresAction,
    RunInfo,
    RunOptions,
    RunStep,
    threads,
)
from endpoints.providers.assistants.provider import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT
from endpoints.providers.base import (
    ChatEvent,
    ChatRequest,
    Done,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    Usage,
    estimate_usage,
)
from usage import budgets
from usage import ledger as usage
from usage.models import Status
from usage.pricing import price_for

log = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]


class ChatSession:
    #: Assistants endpoints: the run answering this chat (its first event), for final/requires_action.
    assistant_run: RunInfo | None = None

    def __init__(self, caller: Caller, *, via: str = "api", client_ip: str = "") -> None:
        self.caller = caller
        self.via = via
        self.client_ip = client_ip
        self.request_id = "req_" + uuid.uuid4().hex
        self.call: ChatCall | None = None
        self.route: Route | None = None
        self.fallbacks: list[dict[str, Any]] = []
        self._stream: AsyncIterator[ChatEvent] | None = None
        self._first: ChatEvent | None = None
        self._request: ChatRequest | None = None
        self._began = time.monotonic()
        self._first_at: float | None = None
        self._begin_task: asyncio.Future[bool] | None = None
        self._finished = False
        self._streaming = False
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.done: Done | None = None
        self._admissions: list[Admission] = []

    # --- before the first byte -------------------------------------------------
    async def start(self, data: Any) -> None:
        """Validate, resolve, admit and open the upstream stream up to its first event.

        ``data`` is a chat body (parsed here) or a :class:`ChatCall` already built
        by another front end (the OpenAI-compatible gateway).
        """
        # The pending row is queued now and written while the upstream call runs.
        self._begin_task = usage.begin(
            request_id=self.request_id, user_id=self.caller.id, via=self.via, endpoint="", model="", conversation_id=""
        )
        try:
            self.call = call = data if isinstance(data, ChatCall) else parse_call(data)
            snapshot = await aget_snapshot()
            for check in (limits.admit, budgets.reserve):
                admission = await check(self, snapshot)
                if admission is not None:
                    self._admissions.append(admission)
            await self._open_with_fallbacks(snapshot, call)
        except ApiError as exc:
            await self._finish(Status.ERROR, exc.type)
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(Status.CLIENT_ABORTED))
            raise
        metrics.OPEN_STREAMS.inc()
        self._streaming = True

    async def _open_with_fallbacks(self, snapshot: Snapshot, call: ChatCall) -> None:
        """Open the requested model, else each fallback in turn, until one sends its first event.

        A fallback is tried when the requested model is unavailable or its upstream fails
        (5xx, timeout, connection error) or rate-limits; a fallback target that fails for any
        reason (including our own limits on it) passes to the next.  When all fail, the
        requested model's error is the answer.
        """
        endpoint = snapshot.get(call.endpoint)
        if endpoint is None:
            raise ApiError("endpoint_not_found", f"There is no enabled endpoint named {call.endpoint!r}.",
                           endpoint=call.endpoint)  # fmt: skip
        chain = fallback_chain(endpoint, call.model)
        first: ApiError | None = None
        reason = ""
        for index, (endpoint_name, model_id) in enumerate(chain):
            if index > 0:
                self.fallbacks.append({
                    "from": {"endpoint": chain[index - 1][0], "model": chain[index - 1][1]},
                    "to": {"endpoint": endpoint_name, "model": model_id},
                    "reason": reason,
                })  # fmt: skip
            try:
                route = await self._route(snapshot, endpoint_name, model_id)
                if index > 0:
                    admission = await limits.admit_fallback(self, snapshot, endpoint_name, model_id)
                    if admission is not None:
                        self._admissions.append(admission)
                await self._open(route)
                return
            except ApiError as exc:
                if index == 0 and exc.type != "model_not_available":
                    raise
                error = exc
            except ProviderError as exc:
                error = provider_error(exc, endpoint_name)
                if index == 0 and not exc.retryable:
                    raise error from None
            log.info("request %s: %s/%s failed (%s)", self.request_id, endpoint_name, model_id, error.type)
            first, reason = first or error, error.type
        assert first is not None
        raise first

    async def _route(self, snapshot: Snapshot, endpoint_name: str, model_id: str) -> Route:
        assert self.call is not None
        return await resolve_route(snapshot, self.caller, self.call, endpoint_name, model_id)

    async def _open(self, route: Route) -> None:
        assert self.call is not None
        call = self.call
        request = ChatRequest(
            model=route.model_id,
            messages=call.messages,
            tools=call.tools,
            tool_choice=call.tool_choice,
            temperature=call.temperature,
            top_p=call.top_p,
            max_tokens=call.max_tokens,
            stop=call.stop,
            response_format=call.response_format,
            extra={k: v for k, v in call.extra.items() if k not in ("parentMessageId", "messageId")},
            user=str(self.caller.id),
        )
        stream: Any
        if route.endpoint.kind in ASSISTANTS_KINDS:
            endpoint, target = route.endpoint, route.target
            azure = target.kind == "azure"
            version = (endpoint.version or ("1" if endpoint.kind == "azureAssistants" else "2")).lstrip("vV")
            poll = endpoint.poll_interval_ms / 1000 if endpoint.poll_interval_ms else DEFAULT_POLL_INTERVAL
            options = RunOptions(
                assistant_id=call.assistant_id,
                thread_id=call.thread_id,
                run_id=call.run_id,
                tool_outputs=call.tool_outputs,
                # A model asked for overrides the assistant's (on Azure, by its deployment name).
                model=(target.azure_deployment if azure else route.model_id) if route.model_id else None,
                version=version,
                poll_interval=poll,
                timeout=endpoint.timeout_ms / 1000 if endpoint.timeout_ms else DEFAULT_TIMEOUT,
                # LibreChat streams OpenAI's v2 runs and polls Azure's and v1's (chatV2, chatV1).
                stream=not azure and version != "1",
                metadata={"user": str(self.caller.id), "conversationId": call.conversation_id},
            )
            provider = AssistantsProvider(target, options)
            if endpoint.private_assistants and call.assistant_id and not self.caller.is_staff:
                # LibreChat's validateAuthor: only the assistant's author may use it (admins may).
                assistant = await provider.retrieve_assistant(call.assistant_id)
                if (assistant.get("metadata") or {}).get("author") != str(self.caller.id):
                    raise ApiError(
                        "invalid_request",
                        f"The assistant {call.assistant_id!r} is private to its author.",
                        errors={"assistant_id": ["Assistant not available."]},
                    )
            if call.thread_id:
                await threads.check_owner(call.thread_id, self.caller)
            stream = provider.stream_run(request)
        else:
            stream = get_provider_class(route.target.kind)(route.target).stream_chat(request)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            raise ProviderError(
                "upstream_error", "The provider ended the answer before it began.", retryable=True
            ) from None
        except BaseException:
            await stream.aclose()
            raise
        if isinstance(first, RunInfo) and not call.thread_id:
            try:
                await threads.remember(first.thread_id, self.caller, route.endpoint.name)
            except BaseException:
                await stream.aclose()
                raise
        self._first_at = time.monotonic()
        self.route, self._stream, self._first, self._request = route, stream, first, request

    # --- after the first byte ------------------------------------------------------
    def created(self) -> dict[str, Any]:
        assert self.call is not None
        data = {
            "requestId": self.request_id,
            "conversationId": self.call.conversation_id,
            "endpoint": self.call.endpoint,
            "model": self.call.model,
        }
        if isinstance(self._first, RunInfo):  # an assistants run: where the conversation goes on
            data.update(assistant_id=self.call.assistant_id, thread_id=self._first.thread_id, run_id=self._first.run_id)
        return data

    async def events(self) -> AsyncIterator[Event]:
        """The answer as the contract's events; always ends with ``final`` or ``error`` (or, for an
        assistants run that waits for tool outputs, ``requires_action``)."""
        assert self._stream is not None and self._first is not None
        yield "created", self.created()
        for fallback in self.fallbacks:
            yield "fallback", fallback
        stream, event = self._stream, self._first
        try:
            while True:
                if isinstance(event, RunStep):
                    yield "step", event.data()
                else:
                    delta = self._take(event)
                    if delta is not None:
                        yield "delta", delta
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    break
        except ProviderError as exc:
            error = provider_error(exc, self.route.endpoint.name if self.route else "")
            await self._finish(Status.ERROR, error.type)
            yield "error", error.body()
            return
        except (asyncio.CancelledError, GeneratorExit):
            await asyncio.shield(self._finish(Status.CLIENT_ABORTED))
            raise
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        final = await self._finish(Status.OK)
        if self.assistant_run is not None and self.done is not None and self.done.finish_reason == "tool_calls":
            # The run waits: a chat with thread_id, run_id and tool_outputs continues it.
            keys = ("requestId", "conversationId", "thread_id", "run_id", "endpoint", "model", "usage")
            yield "requires_action", {**{k: final[k] for k in keys}, "tool_calls": final.get("tool_calls", [])}
            return
        yield "final", final

    def _take(self, event: ChatEvent | RunInfo | RequiresAction) -> dict[str, Any] | None:
        if isinstance(event, RunInfo):
            self.assistant_run = event
            route = self.route
            if route is not None and not route.model_id and event.model:
                # No model asked for: the assistant's own answered (on Azure, named by its deployment).
                models = route.endpoint.models
                info = route.endpoint.model(event.model) or next(
                    (m for m in models if m.deployment_name == event.model), None
                )
                route.model_id, route.model = (info.id, info) if info else (event.model, None)
            return None
        if isinstance(event, RequiresAction):
            self.tool_calls = dict(enumerate(event.tool_calls))
            return None
        if isinstance(event, TextDelta):
            self.text.append(event.text)
            return {"text": event.text}
        if isinstance(event, ToolCallDelta):
            call = self.tool_calls.setdefault(
                event.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = call["id"] or event.id
            call["function"]["name"] = call["function"]["name"] or event.name or ""
            call["function"]["arguments"] += event.arguments
            delta = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": event.arguments},
            }
            return {"text": "", "tool_calls": [delta]}
        if isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Done):
            self.done = event
        return None

    async def collect(self) -> dict[str, Any]:
        """``stream: false``: the ``final`` object — or, for an assistants run that needs
        tool outputs, the ``requires_action`` one — or raise the error as an ApiError."""
        final: dict[str, Any] = {}
        async for name, data in self.events():
            if name in ("final", "requires_action"):
                final = {"event": name, **data} if name == "requires_action" else data
            elif name == "error":
                raise ApiError(
                    data["type"], data["message"], **{k: v for k, v in data.items() if k not in ("type", "message")}
                )
        return final

    # --- exactly once ----------------------------------------------------------------
    async def _finish(self, status: str, error_type: str = "") -> dict[str, Any]:
        """Conclude the request once: settle admissions, finalize the usage row, count it;
        return the ``final`` object."""
        if self._finished:
            return {}
        self._finished = True
        if self._streaming:
            metrics.OPEN_STREAMS.dec()
        route, call = self.route, self.call
        text = "".join(self.text)
        used = self.usage
        if used is None and route is not None and self._request is not None and (status != Status.ERROR or text):
            used = estimate_usage(self._request, len(text))  # the upstream reported nothing (yet)
        prompt = used.prompt_tokens if used else 0
        completion = used.completion_tokens if used else 0
        cached = used.cached_tokens if used else 0
        cost = None
        if route is not None and used is not None:
            info = route.model
            price = price_for(
                route.endpoint.kind,
                route.model_id,
                info.prompt_price if info else None,
                info.completion_price if info else None,
                info.cached_price if info else None,
            )
            cost = usage.cost(price, prompt, completion, cached)
        now = time.monotonic()
        outcome = usage.Outcome(
            status=status,
            error_type=error_type,
            answered_endpoint=route.endpoint.name if route else "",
            answered_model=route.model_id if route else "",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            estimated=bool(used and used.estimated),
            cost_usd=cost,
            latency_ms=int((now - self._began) * 1000),
            ttft_ms=int((self._first_at - self._began) * 1000) if self._first_at else None,
        )
        await self._record(outcome)
        final: dict[str, Any] = {
            "requestId": self.request_id,
            "conversationId": call.conversation_id if call else "",
            "text": text,
            "finish_reason": self.done.finish_reason if self.done else None,
            "endpoint": outcome.answered_endpoint,
            "model": outcome.answered_model,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "cost_usd": float(cost) if cost is not None else None,
                "estimated": outcome.estimated,
            },
        }
        if self.tool_calls:
            final["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        if self.assistant_run is not None:
            final["thread_id"] = self.assistant_run.thread_id
            final["run_id"] = self.assistant_run.run_id
        return final

    async def _record(self, outcome: usage.Outcome) -> None:
        for admission in self._admissions:
            try:
                await admission.settle(outcome)
            except Exception:  # settling must not stop the others, nor the usage row
                log.exception("request %s: settling %r failed", self.request_id, admission)
        call = self.call
        # Queued after the pending row, so written in its batch or a later one (one INSERT
        # of the final row when both are in the same batch).
        await usage.finish(
            self.request_id,
            outcome,
            endpoint=call.endpoint if call else "",
            model=call.model if call else "",
            conversation_id=call.conversation_id if call else "",
        )
        if self._begin_task is not None and self._begin_task.done() and self._begin_task.exception():
            log.error(
                "request %s: its pending usage row failed", self.request_id, exc_info=self._begin_task.exception()
            )
        metrics.observe(self.via, call.endpoint if call else "", outcome, self._began, self._first_at)
