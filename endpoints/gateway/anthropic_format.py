"""Anthropic's Messages API wire format for the gateway's answers: the ``message`` object, the
server-sent event sequence, error bodies and the model list.

Messages: https://docs.anthropic.com/en/api/messages
Streaming: https://docs.anthropic.com/en/docs/build-with-claude/streaming (``message_start``,
then per content block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` with the stop reason and
the usage, then ``message_stop``; ``ping`` anywhere; an ``error`` event ends a failed stream).
Errors: https://docs.anthropic.com/en/api/errors (``{"type": "error", "error": {"type",
"message"}}``; the contract's own error type rides along as ``error.details.error_code``, with
its context, where the SDK reads a stable code).
Models: https://docs.anthropic.com/en/api/models-list

Usage is the session's: ``message_start`` carries the prompt's estimate (the upstream reports its
count only at the end), ``message_delta`` the counts the upstream reported (cumulative totals, as
Anthropic sends them; ``input_tokens`` includes any cached prompt tokens).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from core.errors import ApiError
from endpoints.chat.events import Final
from endpoints.providers.base import ToolCallDelta

_SEP = (",", ":")

#: OpenAI's finish reasons (what the providers normalize to) as Anthropic's stop reasons.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

#: Anthropic's error ``type`` by HTTP status (the SDKs pick their exception class by status).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=_SEP).encode()


# --- errors ----------------------------------------------------------------------------


def error_object(error: ApiError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(error.status) or ("api_error" if error.status >= 500 else "invalid_request_error")
    return {"type": kind, "message": error.message, "details": {"error_code": error.type, **error.context}}


def error_body(error: ApiError, request_id: str | None = None) -> bytes:
    return _dumps({"type": "error", "error": error_object(error), "request_id": request_id})


def error_frame(error: ApiError) -> bytes:
    """An error after the stream began: Anthropic's ``error`` event."""
    return b"event: error\ndata: " + _dumps({"type": "error", "error": error_object(error)}) + b"\n\n"


# --- the message -----------------------------------------------------------------------


def message_id(request_id: str) -> str:
    return "msg_" + request_id.removeprefix("req_")


def tool_id(value: str | None) -> str:
    return value or "toolu_" + uuid.uuid4().hex[:24]


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def usage(final: Final) -> dict[str, int]:
    return {"input_tokens": final.usage.prompt_tokens, "output_tokens": final.usage.completion_tokens}


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return {}  # the model wrote broken JSON: Anthropic's answers always hold an object


def message(final: Final, msg_id: str, model: str) -> dict[str, Any]:
    """The ``message`` object for a session's ``final``."""
    content: list[dict[str, Any]] = [{"type": "text", "text": final.text}] if final.text else []
    content += [
        {"type": "tool_use", "id": tool_id(c["id"]), "name": c["function"]["name"],
         "input": _input(c["function"]["arguments"])}
        for c in final.tool_calls
    ]  # fmt: skip
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(final.finish_reason),
        "stop_sequence": None,
        "usage": usage(final),
    }


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


PING = _frame("ping", {"type": "ping"})


class EventWriter:
    """The server-sent events of one answer: content blocks numbered 0, 1 … in the order they
    start; a text block is opened on the first text, a ``tool_use`` block on each new tool call."""

    __slots__ = ("_blocks", "_model", "_msg_id", "_open", "_open_text", "_tools")

    def __init__(self, msg_id: str, model: str) -> None:
        self._msg_id = msg_id
        self._model = model
        self._blocks = 0
        self._open: int | None = None
        self._open_text = False
        self._tools: dict[int, int] = {}  # the provider's tool call index -> our block index

    def start(self, input_tokens: int) -> bytes:
        message: dict[str, Any] = {"id": self._msg_id, "type": "message", "role": "assistant", "model": self._model, "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": input_tokens, "output_tokens": 0}}  # fmt: skip
        return _frame("message_start", {"type": "message_start", "message": message}) + PING

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        frame = _frame("content_block_stop", {"type": "content_block_stop", "index": self._open})
        self._open, self._open_text = None, False
        return frame

    def _begin(self, block: dict[str, Any]) -> tuple[int, bytes]:
        frames = self._close()
        index = self._blocks
        self._blocks += 1
        self._open = index
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return index, frames + _frame("content_block_start", start)

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        frames = b""
        if not self._open_text:
            _index, frames = self._begin({"type": "text", "text": ""})
            self._open_text = True
        delta = {"type": "content_block_delta", "index": self._open, "delta": {"type": "text_delta", "text": text}}
        return frames + _frame("content_block_delta", delta)

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        frames = b""
        index = self._tools.get(delta.index)
        if index is None:
            block = {"type": "tool_use", "id": tool_id(delta.id), "name": delta.name or "", "input": {}}
            index, frames = self._begin(block)
            self._tools[delta.index] = index
        if delta.arguments:
            # A fragment of an earlier call (providers do not interleave, but may) still names its block.
            data = {"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": delta.arguments}}  # fmt: skip
            frames += _frame("content_block_delta", data)
        return frames

    def finish(self, final: Final) -> bytes:
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason(final.finish_reason),
                                                    "stop_sequence": None}, "usage": usage(final)}  # fmt: skip
        return self._close() + _frame("message_delta", delta) + _frame("message_stop", {"type": "message_stop"})


# --- models ----------------------------------------------------------------------------


def model_object(model_id: str, created: int) -> dict[str, Any]:
    created_at = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": created_at}


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise ApiError("invalid_request", "limit: must be a whole number from 1 to 1000.",
                       errors={"limit": ["Must be from 1 to 1000."]})  # fmt: skip
    return int(value)


def _position(ids: list[str], name: str, value: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise ApiError("invalid_request", f"{name}: there is no model {value!r} in the list.",
                       errors={name: ["Not a listed model id."]}) from None  # fmt: skip


def model_page(ids: list[str], created: int, query: dict[str, str]) -> dict[str, Any]:
    """One page of the list: ``limit`` (20; 1-1000), after ``after_id`` or before ``before_id``."""
    limit = _limit(query.get("limit"))
    if query.get("before_id"):
        end = _position(ids, "before_id", query["before_id"])
        start = max(0, end - limit)
        more = start > 0
    else:
        start = _position(ids, "after_id", query["after_id"]) + 1 if query.get("after_id") else 0
        end = start + limit
        more = end < len(ids)
    page = ids[start:end]
    return {
        "data": [model_object(model_id, created) for model_id in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }
