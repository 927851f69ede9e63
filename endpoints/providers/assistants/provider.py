"""HTTP calls and run flows of the Assistants API (streamed, polled, continued, cancelled)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import httpx2

from endpoints.providers import azure
from endpoints.providers.assistants import policy
from endpoints.providers.assistants.events import RunTracker, is_terminal
from endpoints.providers.assistants.runs import (
    AZURE_KIND,
    message_body,
    run_options,
    timed_out,
    tool_output_body,
)
from endpoints.providers.base import (
    AssistantsSettings,
    ChatEvent,
    ChatRequest,
    Opened,
    Provider,
    RunCall,
    Target,
    content_text,
    finalize_body,
    request_headers,
)
from endpoints.providers.errors import ProviderError, malformed_event, truncated_stream
from endpoints.providers.http import UpstreamSSE, request_json
from endpoints.providers.openai import _map_status as _openai_status

__all__ = ["AssistantsProvider"]

log = logging.getLogger(__name__)

# The first Azure data-plane version with Assistants v2 and run streaming.
AZURE_API_VERSION = "2024-05-01-preview"
MAX_PAGES = 50  # listing assistants: 100 a page, enough for 5000 and bounded if has_more never ends
CANCEL_SECONDS = 5.0


def _map_status(status: int, headers: httpx2.Headers, body: Any) -> ProviderError:
    """OpenAI's mapping, except that a 404 here means a missing assistant, thread or run."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if status == 404 and code not in ("model_not_found", "DeploymentNotFound"):
        return ProviderError(
            "invalid_request", "The provider has no such assistant, thread or run. (HTTP 404)", status=404
        )
    return _openai_status(status, headers, body)


class AssistantsProvider(Provider):
    """``target.kind`` ``azure`` selects Azure's URLs and ``api-key``; anything else is OpenAI's."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.options = run_options(target)

    # --- addresses and plain calls ---

    @property
    def azure(self) -> bool:
        return self.target.kind == AZURE_KIND

    def _base(self) -> str:
        t = self.target
        if not self.azure:
            return t.base_url.rstrip("/")
        if t.base_url:  # LibreChat: the group's baseURL, placeholders filled, is the API root
            return (
                t.base_url.replace("${INSTANCE_NAME}", t.azure_instance or "")
                .replace("${DEPLOYMENT_NAME}", t.azure_deployment or "")
                .rstrip("/")
            )
        if not t.azure_instance:
            raise ProviderError("invalid_request", "The Azure endpoint has no instance name configured.")
        return azure.INSTANCE_URL.format(instance=quote(t.azure_instance, safe="")) + "/openai"

    def _url(self, *parts: str, **params: Any) -> str:
        # Ids come from clients: each is one quoted path segment.
        path = "".join("/" + quote(part, safe="") for part in parts)
        query = {key: value for key, value in params.items() if value is not None}
        if self.azure:
            query["api-version"] = self.target.azure_api_version or AZURE_API_VERSION
        return f"{self._base()}{path}" + (f"?{urlencode(query)}" if query else "")

    def _headers(self, streaming: bool = False) -> dict[str, str]:
        t = self.target
        version = self.options.version.lstrip("vV") or "2"
        vendor = {
            "openai-beta": f"assistants=v{version}",
            "content-type": "application/json",
            "accept": "text/event-stream" if streaming else "application/json",
        }
        if self.azure:
            vendor["api-key"] = t.api_key
        else:
            vendor["authorization"] = f"Bearer {t.api_key}"
            if t.organization:
                vendor["openai-organization"] = t.organization
        if streaming:
            vendor["accept-encoding"] = "identity"
        return request_headers(vendor, t)

    async def _call(
        self, method: str, url: str, body: dict[str, Any] | None = None, read_timeout: float | None = None
    ) -> Any:
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        data = await request_json(self.target, method, url, headers=self._headers(), map_status=_map_status,
                                  content=content, read_timeout=read_timeout)  # fmt: skip
        if not isinstance(data, dict):
            raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200)
        return data

    # --- assistants ---

    async def list_models(self) -> list[str]:
        if self.azure:
            raise ProviderError("invalid_request", "Azure Assistants take their models from the azureOpenAI groups.")
        data = await self._call("GET", self._url("models"))
        return [m["id"] for m in data.get("data") or () if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def list_assistants(
        self, *, limit: int = 100, order: str = "desc", after: str | None = None, before: str | None = None
    ) -> dict[str, Any]:
        """Every page, as LibreChat's listAllAssistants: one list with ``has_more`` false."""
        assistants: list[dict[str, Any]] = []
        first_id = last_id = None
        for _ in range(MAX_PAGES):
            page = await self._call(
                "GET", self._url("assistants", limit=limit, order=order, after=after, before=before)
            )
            items = page.get("data")
            if not isinstance(items, list):
                raise ProviderError("upstream_error", "The provider sent a malformed assistant list.", status=200)
            assistants.extend(item for item in items if isinstance(item, dict))
            first_id = first_id or page.get("first_id")
            last_id = page.get("last_id")
            if not page.get("has_more") or not last_id:
                break
            after, before = last_id, None
        return {"object": "list", "data": assistants, "first_id": first_id, "last_id": last_id, "has_more": False}

    async def retrieve_assistant(self, assistant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", self._url("assistants", assistant_id))
        return result

    # --- runs ---

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """A run for this chat, checked first (the assistant, its author, the thread's owner):
        :class:`Opened` first, then text deltas, steps, RequiresAction, and Usage then Done, last."""
        self.options = o = run_options(self.target, request)
        settings = self.target.assistants or AssistantsSettings()
        policy.check_call(request.run or RunCall(), settings)
        if settings.private and o.assistant_id:
            policy.check_author(await self.retrieve_assistant(o.assistant_id), request.caller)
        if o.thread_id:
            await policy.check_thread_owner(o.thread_id, request.caller)
        async with aclosing(self._stream_run(request)) as events:
            async for event in events:
                if isinstance(event, Opened) and not o.thread_id and request.caller is not None:
                    await policy.remember_thread(event.context["thread_id"], request.caller, self.target.endpoint)
                yield event

    async def _stream_run(self, request: ChatRequest) -> AsyncGenerator[Any, None]:
        o = self.options
        loop = asyncio.get_running_loop()
        deadline = loop.time() + o.timeout
        tracker = RunTracker(request, initial=o.tool_outputs is None)
        if o.tool_outputs is not None:
            if not (o.thread_id and o.run_id):
                raise ProviderError("invalid_request", "Tool outputs need the thread_id and run_id they answer.")
            tracker.thread_id, tracker.run_id = o.thread_id, o.run_id
            url = self._url("threads", o.thread_id, "runs", o.run_id, "submit_tool_outputs")
            body: dict[str, Any] = {"tool_outputs": [tool_output_body(item) for item in o.tool_outputs], "stream": True}
            if not o.stream:  # steps done before this request were counted by the one that ran them
                tracker.seen(await self._steps(o.thread_id, o.run_id))
        else:
            tracker.thread_id = await self._thread(request)
            url = self._url("threads", tracker.thread_id, "runs")
            body = self._run_body(request)
        try:
            if o.stream:
                events = self._streamed(url, body, tracker, deadline)
            else:
                body["stream"] = False
                events = self._polled(await self._call("POST", url, body), tracker, deadline)
            async with aclosing(events):
                async for event in events:
                    yield event
            last = tracker.finish()
        except BaseException:
            if tracker.active:  # a timeout, an error or a caller that went away: stop the run too
                await asyncio.shield(self._cancel(tracker))
            raise
        for event in last:
            yield event

    async def _thread(self, request: ChatRequest) -> str:
        o = self.options
        messages = [message_body(m) for m in request.messages if m.get("role") in ("user", "assistant")]
        if o.thread_id:
            # The thread holds the conversation so far: only the user's new turn is added.
            tail: list[dict[str, Any]] = []
            for message in reversed(messages):
                if message["role"] != "user":
                    break
                tail.insert(0, message)
            for message in tail:
                await self._call("POST", self._url("threads", o.thread_id, "messages"), message)
            return o.thread_id
        thread = await self._call("POST", self._url("threads"), {"messages": messages, "metadata": o.metadata})
        if not isinstance(thread.get("id"), str):
            raise ProviderError("upstream_error", "The provider sent a malformed thread.", status=200)
        thread_id: str = thread["id"]
        return thread_id

    def _run_body(self, request: ChatRequest) -> dict[str, Any]:
        o = self.options
        if not o.assistant_id:
            raise ProviderError("invalid_request", "A run needs an assistant_id.")
        body: dict[str, Any] = {"assistant_id": o.assistant_id, "stream": True}
        if o.model:
            body["model"] = o.model
        # System messages become the run's additional_instructions (LibreChat's promptPrefix).
        system = "\n\n".join(
            content_text(m.get("content")) for m in request.messages if m.get("role") in ("system", "developer")
        )
        if system:
            body["additional_instructions"] = system
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("max_completion_tokens", request.max_tokens),
            ("tools", request.tools),
            ("tool_choice", request.tool_choice),
            ("response_format", request.response_format),
        ):
            if value is not None:
                body[key] = value
        return finalize_body(body, self.target, protected=("stream", "assistant_id"))

    async def _streamed(
        self, url: str, body: dict[str, Any], tracker: RunTracker, deadline: float
    ) -> AsyncGenerator[Any, None]:
        # The run's own timeout bounds the wait: a code interpreter step may stay silent for longer
        # than the idle timeout between the chunks of a chat answer.
        t, run_timeout = self.target.timeouts, self.options.timeout
        waits = replace(t, first_token=max(t.first_token, run_timeout), idle=max(t.idle, run_timeout))
        upstream = UpstreamSSE(
            replace(self.target, timeouts=waits),
            url,
            headers=self._headers(streaming=True),
            body=body,
            map_status=_map_status,
        )
        terminated = False
        try:
            async with asyncio.timeout_at(deadline):
                await upstream.__aenter__()
        except ProviderError as exc:
            if exc.status is None or exc.status >= 300:
                raise
            # A 2xx JSON answer: the upstream (or a proxy) does not stream. The run exists; poll it.
            log.info("the assistants upstream answered without streaming; polling the run")
            if tracker.run_id is None:
                runs = await self._call(
                    "GET", self._url("threads", tracker.thread_id or "", "runs", limit=1, order="desc")
                )
                run = (runs.get("data") or [None])[0]
            else:
                run = await self._call("GET", self._url("threads", tracker.thread_id or "", "runs", tracker.run_id))
            if not isinstance(run, dict):
                raise malformed_event() from None
            async with aclosing(self._polled(run, tracker, deadline)) as polled:
                async for event in polled:
                    yield event
            return
        except TimeoutError:
            raise timed_out(tracker) from None
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        name, data = await upstream.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise timed_out(tracker) from None
                if name == "done":
                    terminated = True
                    await upstream.drain()
                    break
                try:
                    payload = json.loads(data)
                except ValueError:
                    raise malformed_event() from None
                for event in tracker.on_event(name, payload):
                    yield event
        except ProviderError as exc:
            exc.started = tracker.started
            raise
        finally:
            await upstream.aclose()
        if not terminated:
            raise truncated_stream(tracker.started)

    async def _polled(self, run: dict[str, Any], tracker: RunTracker, deadline: float) -> AsyncGenerator[Any, None]:
        loop = asyncio.get_running_loop()
        thread_id = tracker.thread_id or str(run.get("thread_id") or "")
        tracker.fetch_messages = True  # no deltas: each message is read once its step completes
        try:
            while True:
                for event in tracker.on_run(run):
                    yield event
                run_id = tracker.run_id or ""
                for step in await self._steps(thread_id, run_id):
                    for event in tracker.on_step(step):
                        yield event
                    message_id = tracker.pending_message()
                    while message_id is not None:
                        message = await self._call("GET", self._url("threads", thread_id, "messages", message_id))
                        for event in tracker.on_message(message):
                            yield event
                        message_id = tracker.pending_message()
                if is_terminal(run.get("status")):
                    for event in tracker.on_end(run):
                        yield event
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise timed_out(tracker)
                await asyncio.sleep(min(self.options.poll_interval, remaining))
                run = await self._call("GET", self._url("threads", thread_id, "runs", run_id))
        except ProviderError as exc:
            exc.started = tracker.started
            raise

    async def _steps(self, thread_id: str, run_id: str) -> list[dict[str, Any]]:
        page = await self._call("GET", self._url("threads", thread_id, "runs", run_id, "steps", limit=100, order="asc"))
        return [step for step in page.get("data") or () if isinstance(step, dict)]

    async def _cancel(self, tracker: RunTracker) -> None:
        """Best effort: the run may have ended meanwhile, or the upstream may be gone."""
        if not (tracker.thread_id and tracker.run_id):
            return
        tracker.active = False
        url = self._url("threads", tracker.thread_id, "runs", tracker.run_id, "cancel")
        try:
            await self._call("POST", url, {}, read_timeout=CANCEL_SECONDS)
        except ProviderError as exc:
            log.info("cancelling run %s failed: %s", tracker.run_id, exc.kind)
