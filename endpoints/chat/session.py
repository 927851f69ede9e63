"""One chat as one pipeline: parse → resolve → admit → open (with fallbacks) → stream → settle.

:meth:`ChatSession.run` is an async generator of typed events (:mod:`endpoints.chat.events`)
that every front end renders.  It always ends with one terminal event — :class:`Final` or
:class:`Error` (``started`` says whether the answer had begun, so a front end knows whether an
HTTP status is still possible) — unless its consumer goes away first.

Settling happens in one place, :meth:`ChatSession._settle`, reached from the generator's
``finally`` on every exit: an answer, an ``ApiError``, a ``ProviderError``, any unexpected
exception (recorded as ``internal_error``, logged with its traceback, never shown), a
cancellation or a consumer that closes the generator.  It releases every admission hold,
finalizes the usage row exactly once and counts the metrics, and never raises.

The holds are released before the terminal event is yielded (the client's next chat finds its
slot free); the usage row and the metrics are recorded in a task of their own that the
generator's ``finally`` awaits, so the client has its answer without waiting for a database
commit, and the request (its ASGI call, which a graceful shutdown waits for) still ends only
once its row is committed.  :func:`drain` waits for whatever is still being recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings

from core import metrics
from core.admission import Hold
from core.caller import Caller
from core.errors import ApiError
from core.outcome import Outcome
from endpoints.catalog.snapshot import Snapshot, aget_snapshot
from endpoints.chat import admission
from endpoints.chat.events import Created, Error, Event, Fallback, Final, UsageReport
from endpoints.chat.fallbacks import fallback_chain
from endpoints.chat.request import ChatCall, decode_json, parse_call
from endpoints.chat.route import Route, endpoint_named, resolve, to_deployment
from endpoints.providers import get_provider
from endpoints.providers.base import (
    ChatEvent,
    ChatRequest,
    Done,
    Opened,
    RequiresAction,
    RunCall,
    Step,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from endpoints.providers.errors import ProviderError, to_api_error
from endpoints.providers.estimate import estimate_usage
from endpoints.routing import checks, router
from endpoints.routing.router import Choice, CoolingDown
from usage import ledger
from usage.models import Status
from usage.pricing import cost, price_for

log = logging.getLogger(__name__)

Parse = Callable[[Any], Awaitable[ChatCall]]
#: Settling that outlives a cancelled chat: strong references until it is done.
_settling: set[asyncio.Future[Any]] = set()
#: Call parameters that only LibreChat's header placeholders read: never sent upstream.
_PLACEHOLDER_ONLY = ("parentMessageId", "messageId")


async def parse_chat_body(data: Any) -> ChatCall:
    return parse_call(data)


def internal_error() -> ApiError:
    return ApiError("internal_error", "The server failed to answer; the error was logged.", status=500)


def chat_request(call: ChatCall, route: Route, caller: Caller) -> ChatRequest:
    """What the adapter of ``route`` is asked: the call's messages and parameters, for ``caller``."""
    continued = call.assistant_id or call.thread_id or call.run_id or call.tool_outputs is not None
    return ChatRequest(
        model=route.upstream_model or route.model_id,
        messages=call.messages,
        tools=call.tools,
        tool_choice=call.tool_choice,
        temperature=call.temperature,
        top_p=call.top_p,
        max_tokens=call.max_tokens,
        stop=call.stop,
        response_format=call.response_format,
        extra={k: v for k, v in call.extra.items() if k not in _PLACEHOLDER_ONLY},
        user=str(caller.id),
        caller=caller,
        conversation_id=call.conversation_id,
        run=RunCall(call.assistant_id, call.thread_id, call.run_id, call.tool_outputs) if continued else None,
    )


class ChatSession:
    def __init__(
        self, caller: Caller, *, via: str = "api", client_ip: str = "", parse: Parse = parse_chat_body
    ) -> None:
        self.caller = caller
        self.via = via
        self.client_ip = client_ip
        self.parse = parse
        self.request_id = "req_" + uuid.uuid4().hex
        self.call: ChatCall | None = None
        self.route: Route | None = None
        self.fallbacks: list[Fallback] = []
        self._request: ChatRequest | None = None
        self._holds: list[Hold] = []
        self._tries = 0  # targets admitted so far: deployments of the model, then of each fallback
        self._choice: Choice | None = None  # the deployment that answered
        self._began = time.monotonic()
        self._first_at: float | None = None
        self._streaming = False
        self._settling: asyncio.Future[Outcome] | None = None
        self._recording: asyncio.Future[None] | None = None
        self._text: list[str] = []
        self._chars = 0  # of the text so far
        self._tool_calls: dict[int, dict[str, Any]] = {}
        self._usage: Usage | None = None
        self._done: Done | None = None
        self._context: dict[str, str] = {}
        self._waits_for_tools = False
        self._endpoint_known = False  # the endpoint asked for is configured (a metrics label may name it)

    # --- the pipeline ------------------------------------------------------------------

    async def run(self, body: bytes | Any) -> AsyncGenerator[Event, None]:
        """The chat's events; ``body`` is the raw JSON body or an already decoded value."""
        begun = ledger.begin(request_id=self.request_id, user_id=self.caller.id, via=self.via, endpoint="", model="",
                             conversation_id="")  # fmt: skip
        status, error_type = Status.ERROR, "internal_error"  # until the pipeline says otherwise
        try:
            try:
                stream, first = await self._open(body)
            except ApiError as exc:
                status, error_type = Status.ERROR, exc.type
                await self._settle(status, error_type)  # settled before the client hears of it
                yield Error(exc, started=False)
                return
            self._streaming = True
            metrics.OPEN_STREAMS.inc()
            if isinstance(first, Opened):
                self._opened(first)
            yield self._created()
            for step in self.fallbacks:
                yield step
            try:
                event: ChatEvent = first
                every = settings.USAGE_PROGRESS_SECONDS
                progressed = time.monotonic()
                while True:
                    shown = self._take(event)
                    if shown is not None:
                        yield shown
                        if time.monotonic() - progressed >= every:  # a long answer: its running count
                            progressed = time.monotonic()
                            ledger.progress(self.request_id, self._outcome_of(Status.PENDING, ""))
                    try:
                        event = await anext(stream)
                    except StopAsyncIteration:
                        break
            finally:
                await stream.aclose()
            status, error_type = Status.OK, ""
            yield self._final(await self._settle(status, error_type))
        except (ProviderError, ApiError) as exc:
            error = (
                exc if isinstance(exc, ApiError) else to_api_error(exc, self.route.endpoint.name if self.route else "")
            )
            status, error_type = Status.ERROR, error.type
            await self._settle(status, error_type)
            yield Error(error, started=True)
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = Status.CLIENT_ABORTED, ""
            raise
        except Exception:
            log.exception("request %s failed", self.request_id)
            status, error_type = Status.ERROR, "internal_error"
            await self._settle(status, error_type)
            yield Error(internal_error(), started=self._streaming)
        finally:
            await self._settle(status, error_type)
            if self._recording is not None:
                await asyncio.shield(self._recording)
            if begun.done() and not begun.cancelled() and begun.exception():
                log.error("request %s: its pending usage row failed", self.request_id, exc_info=begun.exception())

    async def _open(self, body: bytes | Any) -> tuple[AsyncGenerator[ChatEvent, None], ChatEvent]:
        """Parse, resolve, admit and open the upstream stream up to its first event, trying the
        fallbacks when the requested model is unavailable or its upstream fails (5xx, timeout,
        connection error) or rate-limits.  A fallback that fails for any reason (our own limits on
        it included) passes to the next; when all fail, the requested model's error is the answer."""
        self.call = call = await self.parse(decode_json(body) if isinstance(body, bytes) else body)
        snapshot = await aget_snapshot()
        checks.ensure_running(snapshot)  # proactive health checks, where a model asks for them
        chain = fallback_chain(endpoint_named(snapshot, call.endpoint), call.model)
        self._endpoint_known = True
        first_error: ApiError | None = None
        error: ApiError
        reason = ""
        for index, (endpoint_name, model_id) in enumerate(chain):
            if index > 0:
                self.fallbacks.append(Fallback(chain[index - 1], (endpoint_name, model_id), reason))
            try:
                return await self._attempt(snapshot, endpoint_name, model_id)
            except CoolingDown as exc:  # not tried at all: straight to the fallbacks
                error = exc
            except ApiError as exc:
                if index == 0 and exc.type != "model_not_available":
                    raise
                error = exc
            except ProviderError as exc:
                error = to_api_error(exc, endpoint_name)
                if index == 0 and not exc.retryable:
                    raise error from None
            log.info("request %s: %s/%s failed (%s)", self.request_id, endpoint_name, model_id, error.type)
            first_error = first_error or error
            reason = "cooling_down" if isinstance(error, CoolingDown) else error.type
        assert first_error is not None
        raise first_error

    async def _attempt(self, snapshot: Snapshot, endpoint_name: str,
                       model_id: str) -> tuple[AsyncGenerator[ChatEvent, None], ChatEvent]:  # fmt: skip
        """The model's deployments in routing's order (endpoints/routing/), each failure counted
        in its shared health, until one opens; then the first failure is the model's."""
        assert self.call is not None
        route = await resolve(snapshot, self.caller, self.call, endpoint_name, model_id)
        error: ProviderError | ApiError | None = None
        for choice in await router.choose(route.endpoint, route.model_id):
            if not await router.claim(choice):
                continue  # half-open, and another request probes it
            started = time.monotonic()
            try:
                opened = await self._try(to_deployment(snapshot, route, choice.deployment, self.caller, self.call))
            except ProviderError as exc:
                await router.failed(choice, exc.kind, exc.message, exc.retry_after)
                if not (exc.retryable or exc.kind == "invalid_api_key"):  # the request itself is wrong
                    raise
                error = error or exc
            except ApiError as exc:
                if exc.type != "upstream_error" and exc.context.get("scope") != "deployment":
                    raise  # not this deployment's problem: another would meet it too
                error = error or exc  # its target cannot be built, or its own rateLimit is reached
            else:
                self._choice = choice
                await router.opened(choice, time.monotonic() - started)
                return opened
            log.info("request %s: deployment %s failed (%s)", self.request_id, choice.deployment.key,
                     error.kind if isinstance(error, ProviderError) else error.type)  # fmt: skip
        if error is None:  # every deployment half-open, each probed by another request
            raise CoolingDown(endpoint_name, route.model_id, 1)
        raise error

    async def _try(self, route: Route) -> tuple[AsyncGenerator[ChatEvent, None], ChatEvent]:
        assert self.call is not None
        attempt, self._tries = self._tries, self._tries + 1
        ticket = admission.ticket(self.request_id, self.caller, self.client_ip, self.call, route, attempt=attempt)
        holds = await admission.admit(ticket)
        self._holds += holds
        request = self._chat_request(route)
        provider = get_provider(route.target)
        # A client that wants no stream gets the upstream's non-streamed answer: the real usage.
        stream = provider.stream_chat(request) if self.call.stream else provider.complete_chat(request)
        try:
            first = await anext(stream)
        except BaseException as exc:
            await stream.aclose()
            # This target answered nothing: what was held for it goes back now (not behind a fallback).
            failed = [hold for hold in holds if hold.per_target]
            self._holds = [hold for hold in self._holds if hold not in failed]
            if isinstance(exc, asyncio.CancelledError):
                ended = Outcome(status=Status.CLIENT_ABORTED)
            else:
                kind = exc.kind if isinstance(exc, ProviderError) else getattr(exc, "type", "internal_error")
                ended = Outcome(status=Status.ERROR, error_type=kind)
            await asyncio.shield(admission.settle(failed, ended))
            if isinstance(exc, StopAsyncIteration):
                raise ProviderError("upstream_error", "The provider ended the answer before it began.",
                                    retryable=True) from None  # fmt: skip
            raise
        self._first_at = time.monotonic()
        self.route, self._request = route, request
        return stream, first

    def _chat_request(self, route: Route) -> ChatRequest:
        assert self.call is not None
        return chat_request(self.call, route, self.caller)

    # --- the answer --------------------------------------------------------------------

    def _opened(self, event: Opened) -> None:
        self._context = dict(event.context)
        route = self.route
        if route is not None and not route.model_id and event.model:
            # No model asked for: the one the upstream names answered (on Azure, by deployment).
            info = route.endpoint.model_named(event.model)
            route.model_id, route.model = (info.id, info) if info else (event.model, None)

    def _created(self) -> Created:
        call, route = self.call, self.route
        assert call is not None and route is not None
        context: dict[str, Any] = self._context
        if context:  # a run: which assistant, beside the ids to continue with
            context = {"assistant_id": call.assistant_id, **context}
        return Created(self.request_id, call.conversation_id, call.endpoint, call.model,
                       (route.endpoint.name, route.model_id), context)  # fmt: skip

    def _take(self, event: ChatEvent) -> Event | None:
        """Keep what the final answer needs; return what the client sees now."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            self._chars += len(event.text)
            return event
        if isinstance(event, ToolCallDelta):
            call = self._tool_calls.setdefault(
                event.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = call["id"] or event.id
            call["function"]["name"] = call["function"]["name"] or event.name or ""
            call["function"]["arguments"] += event.arguments
            return event
        if isinstance(event, Step):
            return event
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Done):
            self._done = event
        elif isinstance(event, RequiresAction):
            self._tool_calls = dict(enumerate(event.tool_calls))
            self._waits_for_tools = True
        return None

    def _final(self, outcome: Outcome) -> Final:
        call = self.call
        assert call is not None
        finish_reason = self._done.finish_reason if self._done else None
        return Final(
            request_id=self.request_id,
            conversation_id=call.conversation_id,
            text="".join(self._text),
            finish_reason=finish_reason,
            endpoint=outcome.answered_endpoint,
            model=outcome.answered_model,
            usage=UsageReport(outcome.prompt_tokens, outcome.completion_tokens, outcome.cost_usd, outcome.estimated),
            tool_calls=[self._tool_calls[i] for i in sorted(self._tool_calls)],
            context=self._context,
            kind="requires_action" if self._waits_for_tools and finish_reason == "tool_calls" else "final",
        )

    # --- exactly once ------------------------------------------------------------------

    def _outcome_of(self, status: str, error_type: str) -> Outcome:
        route = self.route
        used = self._usage
        if (
            (used is None or used.estimated)
            and route is not None
            and self._request is not None
            and (status != Status.ERROR or self._chars or used is not None)
        ):
            # The upstream reported nothing (yet): guessed from the answer's own text.
            arguments = [(c.get("function") or {}).get("arguments") for c in self._tool_calls.values()]
            answer = "".join(self._text) + "".join(a for a in arguments if isinstance(a, str))
            used = estimate_usage(self._request, answer, route.target.kind)
        prompt = used.prompt_tokens if used else 0
        completion = used.completion_tokens if used else 0
        cached = used.cached_tokens if used else 0
        cost_usd = None
        if route is not None and used is not None:
            info = route.model
            price = price_for(route.endpoint.kind, route.model_id, info.prompt_price if info else None,
                              info.completion_price if info else None, info.cached_price if info else None)  # fmt: skip
            cost_usd = cost(price, prompt, completion, cached)
        return Outcome(
            status=status,
            error_type=error_type,
            answered_endpoint=route.endpoint.name if route else "",
            answered_model=route.model_id if route else "",
            answered_deployment=route.deployment if route else "",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            estimated=bool(used and used.estimated),
            cost_usd=cost_usd,
            latency_ms=int((time.monotonic() - self._began) * 1000),
            ttft_ms=int((self._first_at - self._began) * 1000) if self._first_at else None,
        )

    async def _settle(self, status: str, error_type: str) -> Outcome:
        """Conclude the request once: release every hold, then (in a task of its own, not awaited
        here) finalize the usage row and count it.

        The first call decides the outcome and starts the work in a task of its own, which every
        later call awaits: a cancellation (the client went away) cannot cut it short."""
        if self._settling is None:
            self._settling = _kept(self._conclude(status, error_type))
        return await asyncio.shield(self._settling)

    async def _conclude(self, status: str, error_type: str) -> Outcome:
        try:
            outcome = self._outcome_of(status, error_type)
        except Exception:
            log.exception("request %s: its outcome could not be computed", self.request_id)
            outcome = Outcome(status=Status.ERROR, error_type="internal_error")
        if self._streaming:
            metrics.OPEN_STREAMS.dec()
        await admission.settle(self._holds, outcome)
        self._recording = _kept(self._record(outcome))
        return outcome

    async def _record(self, outcome: Outcome) -> None:
        """After the answer went out: the deployment's health, the usage row, the metrics."""
        try:
            if self._streaming and outcome.status == Status.ERROR and self._choice is not None:
                await router.broke(self._choice, outcome.error_type)
            await router.ended(self._choice)
        except Exception:
            log.exception("request %s: its deployment's health could not be recorded", self.request_id)
        call = self.call
        try:
            # Queued after the pending row, so written in its batch or a later one.
            await ledger.finish(self.request_id, outcome, endpoint=call.endpoint if call else "",
                                model=call.model if call else "",
                                conversation_id=call.conversation_id if call else "")  # fmt: skip
        except Exception:
            log.exception("request %s: its usage row could not be finalized", self.request_id)
        try:
            route = self.route
            endpoint = call.endpoint if call and self._endpoint_known else metrics.OTHER
            model = route.model_id if route and route.model is not None else metrics.OTHER
            metrics.observe(self.via, endpoint, model, outcome, self._began, self._first_at)
        except Exception:
            log.exception("request %s: its metrics could not be counted", self.request_id)


def _kept(work: Awaitable[Any]) -> asyncio.Future[Any]:
    """``work`` in a task of its own, strongly referenced until done (see :func:`drain`)."""
    future = asyncio.ensure_future(work)
    _settling.add(future)
    future.add_done_callback(_settling.discard)
    return future


async def drain() -> None:
    """Wait for the chats of this process that are still settling or recording (at shutdown)."""
    loop = asyncio.get_running_loop()
    while pending := [future for future in _settling if future.get_loop() is loop]:
        await asyncio.gather(*pending, return_exceptions=True)


async def final_of(events: AsyncIterator[Event]) -> Final:
    """``stream: false``: the terminal :class:`Final`, or its error raised as an ApiError."""
    final: Final | None = None
    async for event in events:
        if isinstance(event, Final):
            final = event
            break  # terminal: the answer goes out now, while the session records it
        elif isinstance(event, Error):
            raise event.error
    if final is None:  # a session always ends with one; never answer nothing
        raise internal_error()
    return final
