"""Google Gemini API (generativelanguage.googleapis.com), streaming only.

API: https://ai.google.dev/api/generate-content ; models: https://ai.google.dev/api/models
Function calling: https://ai.google.dev/gemini-api/docs/function-calling
Structured output: https://ai.google.dev/gemini-api/docs/structured-output
Errors: https://ai.google.dev/gemini-api/docs/troubleshooting

The stream has no terminator: it ends at EOF, and an answer is complete only once a candidate
carries a ``finishReason`` (or the prompt was blocked).
"""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

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

__all__ = ["GoogleProvider"]

MAX_MODEL_PAGES = 10

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"} | dict.fromkeys(_FILTERED, "content_filter")
_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# Gemini 3 rejects a replayed functionCall without its thoughtSignature, which OpenAI-format history cannot
# carry: send the documented placeholder (https://ai.google.dev/gemini-api/docs/thought-signatures#faqs).
_SIGNATURE_PLACEHOLDER = "skip_thought_signature_validator"
_GEMINI_MAJOR = re.compile(r"(?:^|/)gemini-(\d+)")


def _map_status(status: int, headers: httpx2.Headers, body: Any) -> ProviderError:
    """Errors are google.rpc.Status: {"error": {"code", "message", "status", "details"}}. A bad key is a
    400 with reason API_KEY_INVALID; a 429 says when to retry in a RetryInfo detail, not a header."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    retry_after = parse_retry_after(headers.get("retry-after"))
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        if detail.get("reason") == "API_KEY_INVALID":
            return status_error(status, kind="invalid_api_key")
        if retry_after is None and isinstance(delay := detail.get("retryDelay"), str) and delay.endswith("s"):
            retry_after = parse_retry_after(delay[:-1])
    return status_error(status, retry_after=retry_after)


# --- Request translation (OpenAI chat format -> generateContent) ---


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            url = image_url(part)
            if inline := parse_data_url(url):
                parts.append({"inline_data": {"mime_type": inline[0], "data": inline[1]}})
            else:
                mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
                parts.append({"file_data": {"mime_type": mime, "file_uri": url}})
    return parts


def _function_response(content: Any) -> dict[str, Any]:
    """A tool result as the JSON object Gemini wants; anything but an object goes under "output"."""
    text = content if isinstance(content, str) else content_text(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}


def _contents(messages: list[dict[str, Any]], signed: bool) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns so far

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:  # one turn per role, e.g. parallel function responses
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            if text := content_text(message.get("content")):
                system.append(text)
        elif role == "assistant":
            parts = _parts(message.get("content"))
            for n, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function") or {}
                name = function.get("name") or ""
                names[call.get("id") or ""] = name
                part: dict[str, Any] = {
                    "functionCall": {"name": name, "args": tool_arguments(function.get("arguments"))}
                }
                if signed and n == 0:  # only the first of parallel calls carries a signature
                    part["thoughtSignature"] = _SIGNATURE_PLACEHOLDER
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            name = names.get(message.get("tool_call_id") or "")
            if not name:
                raise ProviderError("invalid_request", "A tool message answers no earlier tool call.")
            add("user", [{"functionResponse": {"name": name, "response": _function_response(message.get("content"))}}])
        else:
            add("user", _parts(message.get("content")))
    return system, contents


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    values = (
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("maxOutputTokens", request.max_tokens),
        ("stopSequences", request.stop or None),
    )
    config: dict[str, Any] = {key: value for key, value in values if value is not None}
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:  # responseJsonSchema takes JSON Schema as OpenAI clients write it
            config["responseJsonSchema"] = schema
    return config


def _declaration(function: dict[str, Any]) -> dict[str, Any]:
    # parametersJsonSchema takes the JSON Schema as-is; the older "parameters" wants an OpenAPI subset
    # and rejects keys OpenAI tools often carry (additionalProperties, $schema…).
    declaration = {
        "name": function.get("name"),
        "description": function.get("description"),
        "parametersJsonSchema": function.get("parameters"),
    }
    return {key: value for key, value in declaration.items() if value}


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        names = [(choice.get("function") or {}).get("name")]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": names}}
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICE):
        return {"functionCallingConfig": {"mode": _TOOL_CHOICE[choice]}} if choice else None
    raise ProviderError("invalid_request", "tool_choice is not one Gemini supports.")


def _resource(model: str) -> str:
    return model if "/" in model else f"models/{model}"  # "tunedModels/…" keeps its collection


class GoogleProvider(Provider):
    def _headers(self, streaming: bool) -> dict[str, str]:
        vendor = {"x-goog-api-key": self.target.api_key, "content-type": "application/json"}
        vendor |= {"accept": "text/event-stream", "accept-encoding": "identity"} if streaming else {}
        return request_headers(vendor, self.target)

    def _url(self, model: str, method: str = "streamGenerateContent?alt=sse") -> str:
        return f"{self.target.base_url.rstrip('/')}/v1beta/{quote(_resource(model), safe='/')}:{method}"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        major = _GEMINI_MAJOR.search(request.model)
        system, contents = _contents(request.messages, signed=bool(major and int(major.group(1)) >= 3))
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        if config := _generation_config(request):
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [
                {"functionDeclarations": [_declaration(tool.get("function") or {}) for tool in request.tools]}
            ]
            if (tool_config := _tool_config(request.tool_choice)) is not None:
                body["toolConfig"] = tool_config
        return finalize_body(body, self.target, protected=())

    async def list_models(self) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"pageSize": 1000}
        for _page in range(MAX_MODEL_PAGES):
            data = await get_json(
                self.target,
                f"{self.target.base_url.rstrip('/')}/v1beta/models",
                headers=self._headers(streaming=False),
                map_status=_map_status,
                params=params,
            )
            items = data.get("models") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProviderError("upstream_error", "The provider sent a malformed model list.", status=200)
            for item in items:
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and "generateContent" in (item.get("supportedGenerationMethods") or ()):
                    ids.append(name.removeprefix("models/"))
            if not data.get("nextPageToken"):
                break
            params = {"pageSize": 1000, "pageToken": data["nextPageToken"]}
        return ids

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        started = False
        finish = model = None
        usage: Usage | None = None
        calls = chars = 0
        call_prefix = f"call_{secrets.token_hex(8)}_"  # Gemini sends no call ids; unique per answer
        upstream = UpstreamSSE(
            self.target,
            self._url(request.model),
            headers=self._headers(streaming=True),
            body=self._body(request),
            map_status=_map_status,
        )
        try:
            async with upstream as events:
                async for _event, data in events:
                    try:
                        payload = json.loads(data)
                        if payload.get("error"):  # an error object inside a 200 stream
                            raise ProviderError("upstream_error", "The provider failed mid-answer.", retryable=True)
                        if meta := payload.get("usageMetadata"):
                            usage = _usage(meta)
                        model = payload.get("modelVersion") or model
                        candidates = payload.get("candidates")
                        if not candidates:
                            if (payload.get("promptFeedback") or {}).get("blockReason"):
                                finish = "content_filter"  # the prompt itself was blocked
                            continue
                        candidate = candidates[0]
                        for part in (candidate.get("content") or {}).get("parts") or ():
                            if part.get("thought"):
                                continue  # thought summaries are not the answer
                            if text := part.get("text"):
                                chars += len(text)
                                started = True
                                yield TextDelta(text)
                            elif call := part.get("functionCall"):
                                arguments = json.dumps(call.get("args") or {}, ensure_ascii=False)
                                chars += len(arguments)
                                started = True
                                call_id = call.get("id") or f"{call_prefix}{calls}"
                                yield ToolCallDelta(calls, call_id, call["name"], arguments)
                                calls += 1
                        if reason := candidate.get("finishReason"):
                            finish = _FINISH.get(reason, "stop")
                    except (ValueError, AttributeError, TypeError, KeyError):
                        raise malformed_event() from None
        except ProviderError as exc:
            exc.started = started
            raise
        if finish is None:  # no terminator in this protocol: an answer is complete once it has a finishReason
            raise truncated_stream(started)
        if calls and finish == "stop":
            finish = "tool_calls"
        yield usage or estimate_usage(request, chars, "google")
        yield Done(finish, model or request.model)

    async def count_tokens(self, request: ChatRequest) -> int | None:
        """``countTokens`` with the whole ``generateContentRequest``: system instruction and tools count."""
        body = {"generateContentRequest": {"model": _resource(request.model), **self._body(request)}}
        data = await request_json(self.target, "POST", self._url(request.model, "countTokens"),
                                  headers=self._headers(streaming=False), map_status=_map_status, body=body)  # fmt: skip
        return counted_tokens(data, "totalTokens")

    async def complete_chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        """One ``generateContent`` call, its ``usageMetadata`` exact."""
        data = await request_json(self.target, "POST", self._url(request.model, "generateContent"),
                                  headers=self._headers(streaming=False), map_status=_map_status,
                                  body=self._body(request), read_timeout=self.target.timeouts.total)  # fmt: skip
        prefix = f"call_{secrets.token_hex(8)}_"
        try:
            if data.get("error"):
                raise ProviderError("upstream_error", "The provider failed to answer.", retryable=True)
            candidates = data.get("candidates") or []
            parts = [p for p in ((candidates[0].get("content") or {}).get("parts") or ()) if not p.get("thought")] \
                if candidates else []  # fmt: skip
            text = "".join(p["text"] for p in parts if p.get("text"))
            functions = [p["functionCall"] for p in parts if p.get("functionCall")]
            calls = [ToolCallDelta(index, call.get("id") or f"{prefix}{index}", call["name"],
                                   json.dumps(call.get("args") or {}, ensure_ascii=False))
                     for index, call in enumerate(functions)]  # fmt: skip
            reason = candidates[0].get("finishReason") if candidates else None
            if reason is None and (data.get("promptFeedback") or {}).get("blockReason"):
                reason = "SAFETY"
            usage = _usage(data["usageMetadata"]) if isinstance(data.get("usageMetadata"), dict) else None
        except (AttributeError, TypeError, KeyError, ValueError, IndexError):
            raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200) from None
        finish = _FINISH.get(reason, "stop") if reason else "stop"
        if calls and finish == "stop":
            finish = "tool_calls"
        if text:
            yield TextDelta(text)
        for call in calls:
            yield call
        yield usage or estimate_usage(request, text + "".join(call.arguments for call in calls), "google")
        yield Done(finish, data.get("modelVersion") or request.model)


def _usage(meta: dict[str, Any]) -> Usage:
    """OpenAI-style counts: thinking tokens are output, tool-use prompt tokens are input
    (https://ai.google.dev/api/generate-content#UsageMetadata)."""
    return Usage(
        prompt_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        completion_tokens=int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0),
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
    )
