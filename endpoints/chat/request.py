"""The body of ``POST /api/chat`` (and of a WebSocket chat message), validated.

Everything a chat reads is checked here, before anything is held or sent: a malformed value
(a wrong type, a lone surrogate, a NUL byte in a name, a number out of range, a malformed tool
call) is an ``invalid_request`` that names each field at fault (``errors``), never a failure
later.  The checks of messages and tools are shared with the ``/v1`` gateway's OpenAI body.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from core.consumers import too_large
from core.errors import ApiError

ROLES = {"system", "user", "assistant", "tool", "developer"}
PART_TYPES = {"text", "image_url"}
#: Parameters read here; any other is passed on to OpenAI-style upstreams as it is.
PARAMETERS = {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "stream", "stream_options"}
#: The most completion tokens a chat may ask for (no model answers more; a larger number would
#: only inflate the cost reserved against budgets).
MAX_TOKENS = 1_000_000
#: Identifiers are stored and sent on: printable, and short enough for their columns.
ID_LENGTHS = {"endpoint": 100, "model": 255, "conversationId": 200, "assistant_id": 200, "thread_id": 200,
              "run_id": 200}  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A \u escape of a UTF-16 surrogate: the only way a JSON text can hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass
class ChatCall:
    endpoint: str
    model: str
    messages: list[dict[str, Any]]
    conversation_id: str
    stream: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Stateful chats (assistants endpoints): the assistant, the thread, the run to continue.
    assistant_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    tool_outputs: list[dict[str, Any]] | None = None

    @property
    def has_images(self) -> bool:
        return any(
            isinstance(part, dict) and part.get("type") == "image_url"
            for message in self.messages
            if isinstance(message.get("content"), list)
            for part in message["content"]
        )


# --- the JSON text ---------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _surrogate_path(value: Any, path: str) -> str | None:
    """Where a string holds a lone surrogate (it cannot be encoded, stored or sent)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = _surrogate_path(key, path) or _surrogate_path(item, f"{path}.{key}" if path else str(key))
            if where:
                return where
    elif isinstance(value, list):
        for index, item in enumerate(value):
            where = _surrogate_path(item, f"{path}[{index}]")
            if where:
                return where
    return None


def decode_json(body: bytes) -> Any:
    """The body as JSON: UTF-8, no NaN or Infinity, no lone surrogates, not absurdly deep."""
    if len(body) > settings.REQUEST_MAX_BYTES:
        raise too_large()
    try:
        data = json.loads(body or b"null", parse_constant=_no_constants)
    except RecursionError:
        raise ApiError("invalid_request", "The body is nested too deeply to read.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid_request", f"The body is not valid JSON: {exc}.") from None
    if _SURROGATE_ESCAPE.search(body):  # rare: only then walk the whole value
        where = _surrogate_path(data, "")
        if where:
            raise ApiError(
                "invalid_request",
                f"{where}: the text holds a lone UTF-16 surrogate (\\ud800-\\udfff not in a pair), which is not text.",
                errors={where: ["Holds a lone UTF-16 surrogate."]},
            )
    return data


# --- fields ----------------------------------------------------------------------------


class Errors:
    """Problems found in a body, per field (the ``errors`` of ``invalid_request``)."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.items.setdefault(where, []).append(message)

    def raise_if_any(self, summary: Callable[[dict[str, list[str]]], str] | None = None) -> None:
        if self.items:
            message = summary(self.items) if summary else "The request is not valid; see errors."
            raise ApiError("invalid_request", message, errors=self.items)


def identifier(data: dict[str, Any], key: str, errors: Errors, *, required: bool = False) -> str | None:
    """A name that is stored and sent on: a non-empty printable string of bounded length."""
    value = data.get(key)
    if value is None:
        if required:
            errors.add(key, "This field is required.")
        return None
    limit = ID_LENGTHS.get(key, 200)
    if not isinstance(value, str) or not value.strip():
        errors.add(key, "Must be a non-empty string.")
    elif len(value) > limit:
        errors.add(key, f"Must be at most {limit} characters.")
    elif _CONTROL.search(value):
        errors.add(key, "Must not contain control characters (such as NUL or a line break).")
    else:
        return value
    return None


def number(data: dict[str, Any], key: str, where: str, errors: Errors, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:  # fmt: skip
        errors.add(where, f"Must be a number from {low:g} to {high:g}.")
        return None
    return float(value)


def whole(data: dict[str, Any], key: str, where: str, errors: Errors, high: int = MAX_TOKENS) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        errors.add(where, f"Must be a whole number from 1 to {high:,}.")
        return None
    return value


def stop_sequences(value: Any, where: str, errors: Errors) -> list[str] | None:
    if value is None or isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value or None
    errors.add(where, "Must be a string or a list of strings.")
    return None


def _parts(content: list[Any], where: str, errors: Errors) -> None:
    for p, part in enumerate(content):
        here = f"{where}.content[{p}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in PART_TYPES:
            errors.add(here, "Parts must be {type: text, text} or {type: image_url, image_url: {url}}.")
        elif kind == "text" and not isinstance(part.get("text"), str):
            errors.add(f"{here}.text", "Must be a string.")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                errors.add(f"{here}.image_url.url", "Must be a URL or a data: URL.")


def _tool_calls(calls: Any, where: str, errors: Errors) -> None:
    if not isinstance(calls, list):
        errors.add(f"{where}.tool_calls", "Must be a list of {id, type: function, function: {name, arguments}}.")
        return
    for c, call in enumerate(calls):
        here = f"{where}.tool_calls[{c}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            errors.add(here, "Must be {id, type: function, function: {name, arguments}}.")
        elif not isinstance(function.get("arguments", ""), str):
            errors.add(f"{here}.function.arguments", "Must be a string of JSON.")
        elif call.get("id") is not None and not isinstance(call["id"], str):
            errors.add(f"{here}.id", "Must be a string.")


def messages(value: Any, errors: Errors, *, required: bool = True) -> list[dict[str, Any]]:
    """OpenAI chat messages: roles, content (a string or parts), tool calls and tool answers."""
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value:
        errors.add("messages", "Must be a non-empty list of {role, content}.")
        return []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            errors.add(where, "Must be an object with role and content.")
            continue
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            errors.add(f"{where}.role", f"Must be one of {', '.join(sorted(ROLES))}.")
        content = message.get("content")
        calls = message.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                errors.add(f"{where}.tool_calls", "Only assistant messages carry tool calls.")
            else:
                _tool_calls(calls, where, errors)
        if isinstance(content, list):
            _parts(content, where, errors)
        elif content is None:
            if not (role == "assistant" and calls):
                errors.add(f"{where}.content", "This field is required.")
        elif not isinstance(content, str):
            errors.add(f"{where}.content", "Must be a string or a list of parts.")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            errors.add(f"{where}.tool_call_id", "A tool message needs the tool_call_id it answers.")
        if message.get("name") is not None and not isinstance(message["name"], str):
            errors.add(f"{where}.name", "Must be a string.")
    return value


def tools(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(
        isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        and isinstance(t["function"].get("parameters", {}), dict)
        and isinstance(t["function"].get("description", ""), str)
        for t in value
    ):
        return value or None
    errors.add("tools", 'Must be a list of {"type": "function", "function": {"name", "description", "parameters"}}.')
    return None


def tool_choice(value: Any, errors: Errors) -> Any:
    if value is None or value in ("none", "auto", "required"):
        return value
    if isinstance(value, dict) and isinstance(value.get("function"), dict) and \
            isinstance(value["function"].get("name"), str):  # fmt: skip
        return value
    errors.add("tool_choice", 'Must be "none", "auto", "required" or {"type": "function", "function": {"name"}}.')
    return None


def _tool_outputs(value: Any, errors: Errors) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(t, dict) and isinstance(t.get("tool_call_id"), str) for t in value):
        return value  # an output that is not a string is sent as its JSON
    errors.add("tool_outputs", "Must be a list of {tool_call_id, output}.")
    return None


def parse_call(data: Any) -> ChatCall:
    """A ``/api/chat`` body as a :class:`ChatCall`, or ``invalid_request`` naming every field at fault."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.", errors={"body": ["Must be an object."]})
    errors = Errors()
    tool_outputs = _tool_outputs(data.get("tool_outputs"), errors)
    stream = data.get("stream", True)
    if not isinstance(stream, bool):
        errors.add("stream", "Must be true or false.")
    params = data.get("parameters")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        errors.add("parameters", "Must be an object.")
        params = {}
    n = params.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        errors.add("parameters.n", "Only n=1 is supported: one answer per request (each is counted and charged).")
    response_format = data.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        errors.add("response_format", "Must be an object such as {type: json_object}.")
    call = ChatCall(
        endpoint=identifier(data, "endpoint", errors, required=True) or "",
        model=identifier(data, "model", errors) or "",  # required unless the endpoint's models are optional
        # A run continued with tool outputs adds no new messages.
        messages=messages(data.get("messages"), errors, required=tool_outputs is None),
        conversation_id=identifier(data, "conversationId", errors) or str(uuid.uuid4()),
        stream=stream if isinstance(stream, bool) else True,
        temperature=number(params, "temperature", "parameters.temperature", errors, 0, 2),
        top_p=number(params, "top_p", "parameters.top_p", errors, 0, 1),
        # OpenAI's newer name counts the same, and is bounded the same.
        max_tokens=whole(params, "max_completion_tokens", "parameters.max_completion_tokens", errors)
        or whole(params, "max_tokens", "parameters.max_tokens", errors),
        stop=stop_sequences(params.get("stop"), "parameters.stop", errors),
        tools=tools(data.get("tools"), errors),
        tool_choice=tool_choice(data.get("tool_choice"), errors),
        response_format=response_format if isinstance(response_format, dict) else None,
        extra={k: v for k, v in params.items() if k not in PARAMETERS},
        assistant_id=identifier(data, "assistant_id", errors),
        thread_id=identifier(data, "thread_id", errors),
        run_id=identifier(data, "run_id", errors),
        tool_outputs=tool_outputs,
    )
    errors.raise_if_any()
    return call
