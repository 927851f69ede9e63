"""OpenAI's Chat Completions wire format for the gateway (CONTRACT §6).

The request side turns an OpenAI body into a :class:`ChatCall` (its ``model`` is
still the string the client sent; :mod:`endpoints.gateway` resolves it).  The
response side writes ``chat.completion`` objects, ``chat.completion.chunk``
SSE frames and ``{"error": {…}}`` bodies exactly as OpenAI does
(https://platform.openai.com/docs/api-reference/chat).

Chunks are on the hot path: the constant part of every chunk (id, created,
model …) is serialized once per answer and each delta only adds its own JSON.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from core.errors import STATUS, ApiError
from endpoints.chat.request import ChatCall, _Errors, _messages

_SEP = (",", ":")

#: Body keys the gateway reads itself; any other key is passed on to OpenAI-style upstreams.
KNOWN = frozenset({
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "n", "tools", "tool_choice", "response_format", "user", "logprobs",
    "top_logprobs",
})  # fmt: skip
TOOL_CHOICES = frozenset({"none", "auto", "required"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})

#: OpenAI's error ``type`` by HTTP status (the SDKs pick their exception class by status).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(slots=True)
class GatewayRequest:
    model: str  # as sent: "<endpoint>/<model id>" or a bare model id
    call: ChatCall
    include_usage: bool


# --- request ---------------------------------------------------------------------------


def _number(data: dict[str, Any], key: str, errors: _Errors, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        errors.add(key, f"Must be a number from {low:g} to {high:g}.")
        return None
    return float(value)


def _whole(data: dict[str, Any], key: str, errors: _Errors) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.add(key, "Must be a whole number >= 1.")
        return None
    return value


def _stop(value: Any, errors: _Errors) -> list[str] | None:
    if value is None or isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value or None
    errors.add("stop", "Must be a string or a list of strings.")
    return None


def _tools(value: Any, errors: _Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
        for t in value
    ):
        return value or None
    errors.add("tools", 'Must be a list of {"type": "function", "function": {"name", "parameters"}}.')
    return None


def _tool_choice(value: Any, errors: _Errors) -> Any:
    if value is None or (isinstance(value, str) and value in TOOL_CHOICES):  # a dict is not hashable
        return value
    if isinstance(value, dict) and isinstance((value.get("function") or {}).get("name"), str):
        return value
    errors.add("tool_choice", 'Must be "none", "auto", "required" or {"type": "function", "function": {"name"}}.')
    return None


def _response_format(value: Any, errors: _Errors) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("type"), str) and value["type"] in RESPONSE_FORMATS:
        return value
    errors.add("response_format", "Must be an object whose type is text, json_object or json_schema.")
    return None


def _include_usage(data: dict[str, Any], errors: _Errors) -> bool:
    options = data.get("stream_options")
    if options is None:
        return False
    if isinstance(options, dict) and isinstance(options.get("include_usage", False), bool):
        return bool(options.get("include_usage", False))
    errors.add("stream_options", 'Must be an object such as {"include_usage": true}.')
    return False


def parse_request(data: Any) -> GatewayRequest:
    """Validate an OpenAI chat completions body; ``invalid_request`` names every bad field."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.", errors={"body": ["Must be an object."]})
    errors = _Errors()
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        errors.add("model", 'Required: "<endpoint>/<model id>", or a model id listed by GET /v1/models.')
        model = ""
    messages = _messages(data.get("messages"), errors)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        errors.add("stream", "Must be true or false.")
    n = data.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        errors.add("n", "Only n=1 is supported; send the request again for another choice.")
    if data.get("logprobs") or data.get("top_logprobs") is not None:
        errors.add("logprobs", "Log probabilities are not supported by this gateway.")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        errors.add("user", "Must be a string.")
    max_tokens = _whole(data, "max_tokens", errors)
    max_completion_tokens = _whole(data, "max_completion_tokens", errors)
    call = ChatCall(
        endpoint="",
        model=model,
        messages=messages,
        conversation_id="",  # OpenAI's API has no conversations
        stream=stream is True,
        temperature=_number(data, "temperature", errors, 0, 2),
        top_p=_number(data, "top_p", errors, 0, 1),
        max_tokens=max_completion_tokens or max_tokens,
        stop=_stop(data.get("stop"), errors),
        tools=_tools(data.get("tools"), errors),
        tool_choice=_tool_choice(data.get("tool_choice"), errors),
        response_format=_response_format(data.get("response_format"), errors),
        extra={k: v for k, v in data.items() if k not in KNOWN},
    )
    include_usage = _include_usage(data, errors)
    if errors.items:
        where, problems = next(iter(errors.items.items()))
        raise ApiError("invalid_request", f"The request is not valid: {where}: {problems[0]}", errors=errors.items)
    return GatewayRequest(model=model, call=call, include_usage=include_usage)


# --- errors ----------------------------------------------------------------------------


def error_object(kind: str, message: str, status: int, context: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's error object; ``code`` is the contract's error type, its context rides along."""
    errors = context.get("errors")
    param = next(iter(errors), None) if isinstance(errors, dict) else None
    openai_type = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    error = {"message": message, "type": openai_type, "param": param, "code": kind}
    error.update((k, v) for k, v in context.items() if k not in error)
    return error


def error_body(error: ApiError) -> bytes:
    return json.dumps({"error": error_object(error.type, error.message, error.status, error.context)},
                      separators=_SEP).encode()  # fmt: skip


def error_frame(data: dict[str, Any]) -> bytes:
    """An error after the stream began (``data`` is the contract's error body): what OpenAI sends."""
    kind = str(data.get("type", "upstream_error"))
    context = {k: v for k, v in data.items() if k not in ("type", "message")}
    error = error_object(kind, str(data.get("message", "")), STATUS.get(kind, 502), context)
    return b"data: " + json.dumps({"error": error}, separators=_SEP).encode() + b"\n\n"


# --- responses -------------------------------------------------------------------------


def usage_object(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def completion(final: dict[str, Any], completion_id: str, created: int, model: str) -> dict[str, Any]:
    """The ``chat.completion`` object for a session's ``final``."""
    calls = final.get("tool_calls") or []
    message: dict[str, Any] = {"role": "assistant", "content": final["text"] or (None if calls else ""),
                               "refusal": None}  # fmt: skip
    if calls:
        message["tool_calls"] = [
            {"id": c["id"] or _call_id(), "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in calls
        ]  # fmt: skip
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": final.get("finish_reason") or "stop"}],
        "usage": usage_object(final["usage"]),
    }  # fmt: skip


DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """``chat.completion.chunk`` SSE frames for one answer, cheap per delta."""

    __slots__ = ("_head", "_seen", "_tail", "_usage_head")

    def __init__(self, completion_id: str, created: int, model: str, *, include_usage: bool) -> None:
        common = json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                             "model": model, "system_fingerprint": None}, separators=_SEP)  # fmt: skip
        prefix = b"data: " + common[:-1].encode()  # without its closing brace
        self._head = prefix + b',"choices":[{"index":0,"delta":'
        # With include_usage OpenAI sends "usage": null on every chunk but the last.
        self._tail = b',"logprobs":null,"finish_reason":%s}]' + (b',"usage":null' if include_usage else b"") + b"}\n\n"
        self._usage_head = prefix + b',"choices":[],"usage":'
        self._seen: set[int] = set()

    def _chunk(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return self._head + delta + self._tail % finish

    def role(self) -> bytes:
        return self._chunk(b'{"role":"assistant","content":""}')

    def text(self, text: str) -> bytes:
        return self._chunk(b'{"content":' + json.dumps(text).encode() + b"}")

    def tool_calls(self, deltas: list[dict[str, Any]]) -> bytes:
        """id, type and name on the first fragment of each call; then only argument fragments."""
        out = []
        for delta in deltas:
            index, function = delta["index"], delta["function"]
            if index in self._seen:
                out.append({"index": index, "function": {"arguments": function["arguments"]}})
                continue
            self._seen.add(index)
            out.append({"index": index, "id": delta.get("id") or _call_id(), "type": "function",
                        "function": {"name": function.get("name") or "", "arguments": function["arguments"]}})  # fmt: skip
        return self._chunk(json.dumps({"tool_calls": out}, separators=_SEP).encode())

    def finish(self, reason: str | None) -> bytes:
        return self._chunk(b"{}", json.dumps(reason or "stop").encode())

    def usage(self, usage: dict[str, Any]) -> bytes:
        return self._usage_head + json.dumps(usage_object(usage), separators=_SEP).encode() + b"}\n\n"
