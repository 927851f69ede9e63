"""Token counts guessed from a request, for when the upstream reports none (and, before a
chat goes out, to reserve its cost).  Roughly four characters per token, plus a fixed
count per message and per image; never raises, whatever the request holds."""

from __future__ import annotations

import json
import math
from typing import Any

from endpoints.providers.base import ChatRequest, Usage

CHARS_PER_TOKEN = 4
#: An image's prompt tokens, roughly (OpenAI: a 1024x1024 picture in high detail).
IMAGE_TOKENS = 765
#: Characters per message for its role and framing.
MESSAGE_OVERHEAD_CHARS = 16


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """The prompt of a chat: its messages' text, tool calls and images, and the tool definitions."""
    chars = images = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        chars += MESSAGE_OVERHEAD_CHARS
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    images += 1
                elif isinstance(part, dict):
                    chars += len(_text(part.get("text")))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            chars += len(json.dumps(calls, default=str))
    if tools:
        chars += len(json.dumps(tools, default=str))
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(_text(part.get("text"))) for part in content if isinstance(part, dict))
    return 0


def estimate_usage(request: ChatRequest, completion_chars: int) -> Usage:
    """Roughly four characters per token, for upstreams that report no usage.

    Only text counts: images and tool schemas vary too much by vendor to guess well.
    """
    prompt_chars = 0
    for message in request.messages:
        prompt_chars += _text_chars(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            prompt_chars += len(_text(function.get("arguments"))) if isinstance(function, dict) else 0
    return Usage(
        prompt_tokens=math.ceil(prompt_chars / CHARS_PER_TOKEN),
        completion_tokens=math.ceil(completion_chars / CHARS_PER_TOKEN),
        estimated=True,
    )
