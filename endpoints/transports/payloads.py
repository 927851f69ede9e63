"""A chat's events as the contract writes them: ``(event name, data)`` (CONTRACT §5)."""

from __future__ import annotations

import json
from typing import Any

from core.consumers import compact_json
from endpoints.chat.events import Created, Error, Event, Fallback, Final
from endpoints.providers.base import Step, TextDelta, ToolCallDelta


def _usage(final: Final) -> dict[str, Any]:
    usage = final.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": float(usage.cost_usd) if usage.cost_usd is not None else None,
        "estimated": usage.estimated,
    }


def final_data(final: Final) -> dict[str, Any]:
    if final.kind == "requires_action":  # the run waits: thread_id, run_id and tool_outputs continue it
        return {"requestId": final.request_id, "conversationId": final.conversation_id, **final.context,
                "endpoint": final.endpoint, "model": final.model, "usage": _usage(final),
                "tool_calls": final.tool_calls}  # fmt: skip
    data: dict[str, Any] = {
        "requestId": final.request_id,
        "conversationId": final.conversation_id,
        "text": final.text,
        "finish_reason": final.finish_reason,
        "endpoint": final.endpoint,
        "model": final.model,
        "usage": _usage(final),
    }
    if final.tool_calls:
        data["tool_calls"] = final.tool_calls
    data.update(final.context)
    return data


def payload(event: Event) -> tuple[str, dict[str, Any]]:
    if isinstance(event, TextDelta):
        return "delta", {"text": event.text}
    if isinstance(event, ToolCallDelta):
        call = {"index": event.index, "id": event.id, "type": "function",
                "function": {"name": event.name, "arguments": event.arguments}}  # fmt: skip
        return "delta", {"text": "", "tool_calls": [call]}
    if isinstance(event, Created):
        return "created", {"requestId": event.request_id, "conversationId": event.conversation_id,
                           "endpoint": event.endpoint, "model": event.model, **event.context}  # fmt: skip
    if isinstance(event, Fallback):
        return "fallback", {"from": {"endpoint": event.source[0], "model": event.source[1]},
                            "to": {"endpoint": event.target[0], "model": event.target[1]}, "reason": event.reason}  # fmt: skip
    if isinstance(event, Step):
        data: dict[str, Any] = {"id": event.id, "type": event.type, "status": event.status, "text": event.text}
        if event.input:
            data["input"] = event.input
        if event.output:
            data["output"] = event.output
        return "step", data
    if isinstance(event, Final):
        return event.kind, final_data(event)
    if isinstance(event, Error):
        return "error", event.error.body()
    raise TypeError(f"not a chat event: {event!r}")


def sse_frame(event: Event) -> bytes:
    if isinstance(event, TextDelta):  # the hot path: one per token
        return b'event: delta\ndata: {"text":' + json.dumps(event.text).encode() + b"}\n\n"
    name, data = payload(event)
    return b"event: " + name.encode() + b"\ndata: " + compact_json(data) + b"\n\n"
