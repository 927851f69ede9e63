"""Anthropic Messages API.

API: https://docs.anthropic.com/en/api/messages
Streaming: https://docs.anthropic.com/en/docs/build-with-claude/streaming
Tool use: https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
Errors: https://docs.anthropic.com/en/api/errors
Models: https://docs.anthropic.com/en/api/models-list
"""

from __future__ import annotations

import json
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
    content_text,
    counted_tokens,
    finalize_body,
    image_url,
    parse_data_url,
    request_headers,
    tool_arguments,
)
from endpoints.providers.errors import ProviderError, malformed_event, parse_retry_after, status_error, truncated_stream
from endpoints.providers.estimate import estimate_usage
from endpoints.providers.http import UpstreamSSE, get_json, request_json

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
MAX_MODEL_PAGES = 10  # model list pagination bound (1000 ids a page)

# Anthropic requires max_tokens. Claude 3 (Opus, Sonnet, Haiku) reject more than 4096 output
# tokens; later models allow at least 8192, and LibreChat defaults to 8192 for them too.
_LEGACY_MAX_TOKENS_PREFIXES = ("claude-3-opus", "claude-3-sonnet", "claude-3-haiku", "claude-2", "claude-instant")

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error types, in HTTP errors and in the stream's `error` event -> (kind, retryable).
_ERROR_TYPES = {
    "authentication_error": ("invalid_api_key", False),
    "permission_error": ("invalid_api_key", False),
    "not_found_error": ("model_not_available", True),
    "rate_limit_error": ("upstream_rate_limited", True),
    "invalid_request_error": ("invalid_request", False),
    "request_too_large": ("invalid_request", False),
    "overloaded_error": ("upstream_error", True),  # HTTP 529
    "api_error": ("upstream_error", True),
}


def _map_status(status: int, headers: httpx2.Headers, body: Any) -> ProviderError:
    """Error bodies are {"type": "error", "error": {"type", "message"}}; 529 is "overloaded"."""
    return status_error(status, retry_after=parse_retry_after(headers.get("retry-after")))


def _stream_error(error: Any) -> ProviderError:
    error_type = error.get("type") if isinstance(error, dict) else None
    kind, retryable = _ERROR_TYPES.get(error_type or "", ("upstream_error", True))
    if error_type == "overloaded_error":
        return ProviderError(kind, "The provider is overloaded.", retryable=retryable)
    return ProviderError(kind, "The provider reported an error during the answer.", retryable=retryable)


# --- Request translation (OpenAI chat format -> Messages API) ---


def _image(url: str) -> dict[str, Any]:
    inline = parse_data_url(url)
    if inline is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Content parts as Anthropic blocks; empty text is dropped (the API rejects empty text blocks)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(image_url(part)))
    return blocks


def _append(messages: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role (tool results, then user text)."""
    if not content:
        return
    if messages and messages[-1]["role"] == role:
        previous = messages[-1]["content"]
        messages[-1]["content"] = _blocks(previous) if isinstance(previous, str) else previous
        messages[-1]["content"].extend(_blocks(content) if isinstance(content, str) else content)
    else:
        messages.append({"role": role, "content": content})


def _messages(source: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in source:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            if text := content_text(content):
                system.append(text)
        elif role == "tool":
            result = content if isinstance(content, str) else _blocks(content)
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": result}
            _append(messages, "user", [block])
        elif role == "assistant":
            blocks = _blocks(content)
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": function.get("name"),
                        "input": tool_arguments(function.get("arguments")),
                    }
                )
            _append(messages, "assistant", blocks)
        else:
            _append(messages, "user", content if isinstance(content, str) else _blocks(content))
    return ("\n\n".join(system) or None), messages


_TOOL_CHOICE = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICE):
        return _TOOL_CHOICE.get(choice or "")
    raise ProviderError("invalid_request", "tool_choice is not one Anthropic supports.")


#: The keys of a Messages body that ``count_tokens`` takes.
_COUNTED = ("model", "messages", "system", "tools", "tool_choice", "thinking")


class AnthropicProvider(Provider):
    def _headers(self, streaming: bool) -> dict[str, str]:
        vendor = {
            "x-api-key": self.target.api_key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }
        vendor |= {"accept": "text/event-stream", "accept-encoding": "identity"} if streaming else {}
        return request_headers(vendor, self.target)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = _messages(request.messages)
        max_tokens = request.max_tokens
        if max_tokens is None:
            max_tokens = 4096 if request.model.startswith(_LEGACY_MAX_TOKENS_PREFIXES) else 8192
        body: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": max_tokens, "stream": True}
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if request.tools:
            body["tools"] = [
                {
                    **({"description": f["description"]} if f.get("description") else {}),
                    "name": f.get("name"),
                    "input_schema": f.get("parameters") or {"type": "object", "properties": {}},
                }
                for f in (tool.get("function") or {} for tool in request.tools)
            ]
            if (choice := _tool_choice(request.tool_choice)) is not None:
                body["tool_choice"] = choice
        if request.user:
            body["metadata"] = {"user_id": request.user}
        # response_format has no Messages API equivalent; it is not sent.
        return finalize_body(body, self.target)

    async def list_models(self) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"limit": 1000}
        for _page in range(MAX_MODEL_PAGES):
            data = await get_json(
                self.target,
                f"{self.target.base_url.rstrip('/')}/v1/models",
                headers=self._headers(streaming=False),
                map_status=_map_status,
                params=params,
            )
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProviderError("upstream_error", "The provider sent a malformed model list.", status=200)
            ids.extend(item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str))
            if not data.get("has_more") or not data.get("last_id"):
                break
            params = {"limit": 1000, "after_id": data["last_id"]}
        return ids

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        started = terminated = False
        finish: str | None = None
        model: str | None = None
        usage: dict[str, Any] = {}  # Anthropic's usage fields, updated by message_start and message_delta
        tool_index: dict[int, int] = {}  # content block index -> tool call index
        chars = 0
        upstream = UpstreamSSE(
            self.target,
            f"{self.target.base_url.rstrip('/')}/v1/messages",
            headers=self._headers(streaming=True),
            body=self._body(request),
            map_status=_map_status,
        )
        try:
            async with upstream as events:
                async for event, data in events:
                    if event == "ping":
                        continue
                    try:
                        payload = json.loads(data)
                        kind = payload["type"]
                        if kind == "content_block_delta":
                            delta = payload["delta"]
                            delta_type = delta.get("type")
                            if delta_type == "text_delta":
                                chars += len(delta["text"])
                                started = True
                                yield TextDelta(delta["text"])
                            elif delta_type == "input_json_delta":
                                fragment = delta.get("partial_json") or ""
                                chars += len(fragment)
                                yield ToolCallDelta(tool_index[payload["index"]], None, None, fragment)
                            # thinking_delta, signature_delta, citations_delta: not part of the answer
                        elif kind == "content_block_start":
                            block = payload["content_block"]
                            if block.get("type") == "tool_use":
                                index = tool_index[payload["index"]] = len(tool_index)
                                started = True
                                yield ToolCallDelta(index, block["id"], block["name"], "")
                        elif kind == "message_start":
                            message = payload["message"]
                            model = message.get("model")
                            usage.update(message.get("usage") or {})
                        elif kind == "message_delta":
                            if reason := (payload.get("delta") or {}).get("stop_reason"):
                                finish = _FINISH.get(reason, "stop")
                            usage.update(payload.get("usage") or {})  # cumulative totals
                        elif kind == "message_stop":
                            terminated = True
                            await events.drain()
                            break
                        elif kind == "error":
                            raise _stream_error(payload.get("error"))
                    except (ValueError, AttributeError, TypeError, KeyError):
                        raise malformed_event() from None
        except ProviderError as exc:
            exc.started = started
            raise
        if not terminated:
            raise truncated_stream(started)
        yield _usage(usage) if usage else estimate_usage(request, chars, "anthropic")
        yield Done(finish, model)

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """``POST /v1/messages/count_tokens``: the Messages body without what it refuses (max_tokens,
        stream, sampling parameters, metadata)."""
        body = {key: value for key, value in self._body(request).items() if key in _COUNTED}
        data = await request_json(self.target, "POST", f"{self.target.base_url.rstrip('/')}/v1/messages/count_tokens",
                                  headers=self._headers(streaming=False), map_status=_map_status, body=body)  # fmt: skip
        return counted_tokens(data, "input_tokens")

    async def complete_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """One non-streamed Messages call, its usage exact."""
        body = self._body(request)
        body["stream"] = False
        data = await request_json(self.target, "POST", f"{self.target.base_url.rstrip('/')}/v1/messages",
                                  headers=self._headers(streaming=False), map_status=_map_status, body=body,
                                  read_timeout=self.target.timeouts.total)  # fmt: skip
        try:
            if data.get("type") == "error":
                raise _stream_error(data.get("error"))
            text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
            calls = [
                ToolCallDelta(index, block["id"], block["name"], json.dumps(block.get("input") or {}))
                for index, block in enumerate(b for b in data["content"] if b.get("type") == "tool_use")
            ]
            finish = _FINISH.get(data.get("stop_reason") or "", "stop") if data.get("stop_reason") else None
            usage = _usage(data["usage"]) if isinstance(data.get("usage"), dict) else None
        except (AttributeError, TypeError, KeyError, ValueError):
            raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200) from None
        if text:
            yield TextDelta(text)
        for call in calls:
            yield call
        yield usage or estimate_usage(request, text + "".join(call.arguments for call in calls), "anthropic")
        yield Done(finish, data.get("model"))


def _usage(usage: dict[str, Any]) -> Usage:
    """OpenAI-style counts: Anthropic's input_tokens excludes cache reads and writes
    (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance)."""
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + int(usage.get("cache_creation_input_tokens") or 0)
    return Usage(prompt, int(usage.get("output_tokens") or 0), cached)
