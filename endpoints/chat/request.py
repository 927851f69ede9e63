"""The body of ``POST /api/chat`` (and of a WebSocket chat message), validated.

Errors are collected per field, as ``invalid_request`` with ``errors``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.errors import ApiError

ROLES = {"system", "user", "assistant", "tool", "developer"}
PART_TYPES = {"text", "image_url"}
PARAMETERS = {"temperature", "top_p", "max_tokens", "stop"}
MAX_BODY = 20 * 1024 * 1024


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
    # Assistants (endpoint assistants / azureAssistants)
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


def decode_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise ApiError("invalid_request", f"The body is larger than {MAX_BODY // (1024 * 1024)} MiB.", status=413)
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid_request", f"The body is not valid JSON: {exc}.") from None


class _Errors:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.items.setdefault(where, []).append(message)


def _string(data: dict[str, Any], key: str, errors: _Errors, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            errors.add(key, "This field is required.")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        errors.add(key, "Must be a non-empty string.")
        return None
    return value


def _number(params: dict[str, Any], key: str, errors: _Errors, low: float, high: float) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        errors.add(f"parameters.{key}", f"Must be a number from {low} to {high}.")
        return None
    return float(value)


def _messages(value: Any, errors: _Errors) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        errors.add("messages", "Must be a non-empty list of {role, content}.")
        return []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            errors.add(where, "Must be an object with role and content.")
            continue
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a dict or list is not hashable: check the type first
            errors.add(f"{where}.role", f"Must be one of {', '.join(sorted(ROLES))}.")
        content = message.get("content")
        if isinstance(content, list):
            for p, part in enumerate(content):
                if (
                    not isinstance(part, dict)
                    or not isinstance(part.get("type"), str)
                    or part["type"] not in PART_TYPES
                ):
                    errors.add(f"{where}.content[{p}]", "Parts must be {type: text} or {type: image_url}.")
                elif part["type"] == "image_url" and not isinstance(
                    part["image_url"].get("url") if isinstance(part.get("image_url"), dict) else None, str
                ):
                    errors.add(f"{where}.content[{p}].image_url.url", "Must be a URL or a data: URL.")
        elif content is None:
            if not (role == "assistant" and message.get("tool_calls")):
                errors.add(f"{where}.content", "This field is required.")
        elif not isinstance(content, str):
            errors.add(f"{where}.content", "Must be a string or a list of parts.")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            errors.add(f"{where}.tool_call_id", "A tool message needs the tool_call_id it answers.")
    return value


def parse_call(data: Any) -> ChatCall:
    errors = _Errors()
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.", errors={"body": ["Must be an object."]})
    endpoint = _string(data, "endpoint", errors, required=True) or ""
    model = _string(data, "model", errors, required=endpoint not in ("assistants", "azureAssistants")) or ""
    assistants = endpoint in ("assistants", "azureAssistants")
    messages = data.get("messages")
    if assistants and data.get("tool_outputs") is not None and messages is None:
        messages = []
    else:
        messages = _messages(messages, errors)
    conversation_id = _string(data, "conversationId", errors) or str(uuid.uuid4())
    stream = data.get("stream", True)
    if not isinstance(stream, bool):
        errors.add("stream", "Must be true or false.")
    params = data.get("parameters")
    params = {} if params is None else params  # null is "none"; false, 0, "" or [] are mistakes
    if not isinstance(params, dict):
        errors.add("parameters", "Must be an object.")
        params = {}
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        errors.add("parameters.max_tokens", "Must be a whole number >= 1.")
        max_tokens = None
    stop = params.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        errors.add("parameters.stop", "Must be a string or a list of strings.")
        stop = None
    tools = data.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) and isinstance(t.get("function"), dict) for t in tools)
    ):
        errors.add("tools", "Must be a list of {type: function, function: {name, parameters}}.")
        tools = None
    tool_outputs = data.get("tool_outputs")
    if tool_outputs is not None and not (
        isinstance(tool_outputs, list) and all(isinstance(t, dict) for t in tool_outputs)
    ):
        errors.add("tool_outputs", "Must be a list of {tool_call_id, output}.")
    call = ChatCall(
        endpoint=endpoint,
        model=model,
        messages=messages,
        conversation_id=conversation_id,
        stream=stream if isinstance(stream, bool) else True,
        temperature=_number(params, "temperature", errors, 0, 2),
        top_p=_number(params, "top_p", errors, 0, 1),
        max_tokens=max_tokens,
        stop=stop,
        tools=tools,
        tool_choice=data.get("tool_choice"),
        response_format=data.get("response_format") if isinstance(data.get("response_format"), dict) else None,
        extra={k: v for k, v in params.items() if k not in PARAMETERS},
        assistant_id=_string(data, "assistant_id", errors),
        thread_id=_string(data, "thread_id", errors),
        run_id=_string(data, "run_id", errors),
        tool_outputs=tool_outputs,
    )
    if errors.items:
        raise ApiError("invalid_request", "The request is not valid; see errors.", errors=errors.items)
    return call
