"""What a fake upstream answers: the scripted reply, its tool calls and its fault switches.

Set ``server.reply = Reply(...)`` for every request, or ``server.script(Reply(...), ...)`` for the
next ones. Each vendor fake turns a Reply into its own wire format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OVERLONG_SIZE", "Fault", "Reply", "ToolCall"]

OVERLONG_SIZE = (1 << 20) + 1024  # just over the adapters' 1 MiB line limit


class Fault:
    """Fault switches for :attr:`Reply.fault`. ``Reply.after`` frames are sent before the fault."""

    NO_FIRST_BYTE = "no_first_byte"  # read the request, never answer (not even headers)
    STALL = "stall"  # send headers and `after` frames, then hold the connection silently
    RESET = "reset"  # send `after` frames, then reset the connection (TCP RST)
    MALFORMED = "malformed"  # a `data:` line that is not JSON, after `after` frames
    OVERLONG = "overlong"  # a line of OVERLONG_SIZE bytes, after `after` frames
    PARTIAL = "partial"  # the body ends in the middle of an event, after `after` frames
    NO_TERMINATOR = "no_terminator"  # the whole answer but no [DONE] / message_stop / finishReason
    ERROR_EVENT = "error_event"  # the vendor's in-stream error event, after `after` frames


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class Reply:
    """What a fake answers to one chat request."""

    text: list[str] = field(default_factory=lambda: ["Hello", ", world", "!"])
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int = 0
    usage: bool = True  # False: a stream carries no usage at all (a non-streamed answer still does)
    finish: str | None = None  # the vendor's own finish value; None: its "stop" (or "tool calls" one)
    status: int = 200  # non-200: the vendor's error body for that status
    retry_after: str | None = None  # Retry-After header value on an error status
    error_code: str | None = None  # vendor error code/type/reason override in the error body
    fault: str | None = None
    after: int = 1
    delay: float = 0.0  # seconds between frames
    model: str | None = None  # model id the answer claims; None: the requested one
