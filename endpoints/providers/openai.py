"""OpenAI Chat Completions, also used for custom OpenAI-compatible endpoints (and, through
``azure.py``, Azure OpenAI).

API: https://platform.openai.com/docs/api-reference/chat/create
Streaming: https://platform.openai.com/docs/api-reference/chat-streaming
Models: https://platform.openai.com/docs/api-reference/models/list
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import Any

import httpx2

from endpoints.providers.base import (
    ChatEvent,
    ChatRequest,
    Done,
    Provider,
    TextDelta,
    ToolCallDelta,
    Usage,
    finalize_body,
    request_headers,
)
from endpoints.providers.errors import ProviderError, malformed_event, parse_retry_after, status_error, truncated_stream
from endpoints.providers.estimate import estimate_usage
from endpoints.providers.http import UpstreamSSE, get_json, request_json

__all__ = ["OpenAIProvider"]

# finish_reason is already OpenAI's; "function_call" is the legacy name of tool_calls.
_FINISH = {"function_call": "tool_calls"}

# Reasoning models take max_completion_tokens and reject max_tokens
# (https://platform.openai.com/docs/guides/reasoning). OpenAI-compatible servers mostly know only
# max_tokens, so the new name is used only for these model ids.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


def _map_status(status: int, headers: httpx2.Headers, body: Any) -> ProviderError:
    """OpenAI error bodies are {"error": {"message", "type", "param", "code"}}
    (https://platform.openai.com/docs/guides/error-codes)."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    # OpenAI's SDKs honour retry-after-ms before retry-after; Azure sends both.
    retry_after = None
    if ms := headers.get("retry-after-ms"):
        try:
            retry_after = max(0.0, float(ms) / 1000)
        except ValueError:
            retry_after = None
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("retry-after"))
    if code in ("model_not_found", "DeploymentNotFound"):  # sometimes with 400 instead of 404
        return status_error(status, kind="model_not_available")
    if code == "invalid_api_key":
        return status_error(status, kind="invalid_api_key")
    return status_error(status, retry_after=retry_after)


def _stream_error(error: Any) -> ProviderError:
    """An error object sent inside a 200 stream (OpenAI-compatible servers do this; the text stays private)."""
    code = error.get("code") if isinstance(error, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    if code == "rate_limit_exceeded" or kind == "rate_limit_error":
        return ProviderError("upstream_rate_limited", "The provider is rate limiting requests.", retryable=True)
    return ProviderError("upstream_error", "The provider reported an error during the answer.", retryable=True)


def _usage(raw: dict[str, Any]) -> Usage:
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


class OpenAIProvider(Provider):
    """Chat completions at ``{base_url}/chat/completions`` with ``Authorization: Bearer``."""

    def _base(self) -> str:
        return self.target.base_url.rstrip("/")

    def _chat_url(self) -> str:
        return f"{self._base()}/chat/completions"

    def _auth_headers(self) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.target.api_key}"}
        if self.target.organization:
            headers["openai-organization"] = self.target.organization
        return headers

    def _headers(self, streaming: bool) -> dict[str, str]:
        vendor = {**self._auth_headers(), "accept": "text/event-stream" if streaming else "application/json",
                  "content-type": "application/json"}  # fmt: skip
        if streaming:
            vendor["accept-encoding"] = "identity"  # SSE is not worth compressing; saves a decoder per chunk
        return request_headers(vendor, self.target)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.extra)
        body["model"] = request.model
        body["messages"] = request.messages
        body["stream"] = True
        options = body.get("stream_options")
        body["stream_options"] = (
            {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
        )
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.max_tokens is not None:
            key = "max_completion_tokens" if _REASONING_MODEL.match(request.model) else "max_tokens"
            body[key] = request.max_tokens
        if request.stop:
            body["stop"] = request.stop
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if request.user:
            body["user"] = request.user
        return finalize_body(body, self.target)

    async def list_models(self, *, user: str | None = None) -> list[str]:
        # LibreChat's models.userIdQuery: GET {base}/models?user=<user id>
        data = await get_json(
            self.target,
            f"{self._base()}/models",
            headers=self._headers(streaming=False),
            map_status=_map_status,
            params={"user": user} if user else None,
        )
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ProviderError("upstream_error", "The provider sent a malformed model list.", status=200)
        return [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        started = terminated = tools_called = False
        finish: str | None = None
        model: str | None = None
        usage: Usage | None = None
        chars = 0
        upstream = UpstreamSSE(
            self.target,
            self._chat_url(),
            headers=self._headers(streaming=True),
            body=self._body(request),
            map_status=_map_status,
        )
        try:
            async with upstream as events:
                async for _event, data in events:
                    if data == "[DONE]":
                        terminated = True
                        await events.drain()
                        break
                    try:
                        chunk = json.loads(data)
                        if chunk.get("error"):
                            raise _stream_error(chunk["error"])
                        model = chunk.get("model") or model
                        if raw_usage := chunk.get("usage"):
                            usage = _usage(raw_usage)
                        choices = chunk.get("choices")
                        if not choices:  # the usage chunk; Azure's prompt_filter_results chunk
                            continue
                        choice = choices[0]  # n is 1: one answer per request
                        delta = choice.get("delta") or {}
                        if text := delta.get("content"):
                            chars += len(text)
                            started = True
                            yield TextDelta(text)
                        for call in delta.get("tool_calls") or ():
                            function = call.get("function") or {}
                            arguments = function.get("arguments") or ""
                            chars += len(arguments)
                            started = tools_called = True
                            yield ToolCallDelta(call.get("index", 0), call.get("id"), function.get("name"), arguments)
                        if reason := choice.get("finish_reason"):
                            finish = _FINISH.get(reason, reason)
                    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
                        raise malformed_event() from None
        except ProviderError as exc:
            exc.started = started
            raise
        if not terminated:
            raise truncated_stream(started)
        if finish == "stop" and tools_called:
            finish = "tool_calls"  # OpenAI says "stop" when tool_choice forced a function
        yield usage or estimate_usage(request, chars)
        yield Done(finish, model)

    async def complete_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """One ``stream: false`` call: OpenAI-compatible servers report usage there even when their
        streams send none (llama.cpp's, for one)."""
        body = self._body(request)
        body["stream"] = False
        body.pop("stream_options", None)  # OpenAI refuses it without a stream
        data = await request_json(self.target, "POST", self._chat_url(), headers=self._headers(streaming=False),
                                  map_status=_map_status, body=body, read_timeout=self.target.timeouts.total)  # fmt: skip
        try:
            if data.get("error"):
                raise _stream_error(data["error"])
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = str(message.get("content") or "")
            calls = [
                ToolCallDelta(index, call.get("id"), (call.get("function") or {}).get("name"),
                              str((call.get("function") or {}).get("arguments") or ""))
                for index, call in enumerate(message.get("tool_calls") or ())
            ]  # fmt: skip
            finish = _FINISH.get(choice.get("finish_reason"), choice.get("finish_reason"))
            raw = data.get("usage")
            usage = _usage(raw) if isinstance(raw, dict) else None
        except (AttributeError, TypeError, IndexError, KeyError, ValueError):
            raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200) from None
        if text:
            yield TextDelta(text)
        for call in calls:
            yield call
        if finish == "stop" and calls:
            finish = "tool_calls"
        yield usage or estimate_usage(request, text + "".join(call.arguments for call in calls))
        yield Done(finish, data.get("model"))
