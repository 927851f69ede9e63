"""What a chat session yields, front end by front end rendered (``/api/chat`` SSE and JSON,
``/ws/chat/``, the ``/v1`` gateway): typed, so no front end re-reads another's dicts.

A session yields, in order: :class:`Created` (or, when the request fails before the answer
begins, only an :class:`Error`); the :class:`Fallback` steps taken to get there; then the
answer's :class:`TextDelta`, :class:`ToolCallDelta` and :class:`Step` events (the providers'
own objects, passed through untouched); and last exactly one terminal event: :class:`Final`
(``kind`` ``final``, or ``requires_action`` for a run waiting for tool outputs) or
:class:`Error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.errors import ApiError
from endpoints.providers.base import Step, TextDelta, ToolCallDelta


@dataclass(frozen=True, slots=True)
class Created:
    request_id: str
    conversation_id: str
    endpoint: str  # as asked for
    model: str
    answering: tuple[str, str]  # (endpoint, model) of the target that opened: a fallback's, when one did
    context: dict[str, Any] = field(default_factory=dict)  # ids to continue with (an assistants run's)


@dataclass(frozen=True, slots=True)
class Fallback:
    source: tuple[str, str]  # (endpoint, model) that failed
    target: tuple[str, str]  # (endpoint, model) tried next
    reason: str  # the error type that moved the chat on (or ``cooling_down``)


@dataclass(frozen=True, slots=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None
    estimated: bool

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Final:
    request_id: str
    conversation_id: str
    text: str
    finish_reason: str | None
    endpoint: str  # the one that answered
    model: str
    usage: UsageReport
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI's shape, whole
    context: dict[str, str] = field(default_factory=dict)  # ids to continue with (an assistants run's)
    kind: str = "final"  # or "requires_action": the answer waits for the client's tool outputs


@dataclass(frozen=True, slots=True)
class Error:
    error: ApiError
    started: bool  # the answer had begun: too late for an HTTP status


Event = Created | Fallback | TextDelta | ToolCallDelta | Step | Final | Error
TERMINAL = (Final, Error)
