"""Assistants run objects and stream events -> normalized events, for streamed and polled runs.

:class:`RunTracker` keeps one request's view of a run: its ids, the steps and messages already
reported, the usage of the steps completed during this request, and how it ended. Streamed runs
feed it ``(event, data)`` pairs (:meth:`RunTracker.on_event`); polled runs feed it run, step and
message objects. Either way the same events come out.

Objects: https://platform.openai.com/docs/api-reference/runs/object ,
https://platform.openai.com/docs/api-reference/run-steps/step-object ,
https://platform.openai.com/docs/api-reference/assistants-streaming/events .
"""

from __future__ import annotations

from typing import Any

from endpoints.providers.base import ChatRequest, Done, Opened, RequiresAction, Step, TextDelta, Usage, image_url
from endpoints.providers.errors import ProviderError, malformed_event, truncated_stream
from endpoints.providers.estimate import estimate_usage

__all__ = ["RunTracker", "content_part", "is_terminal"]

# Statuses after which a run does nothing more until someone acts (requires_action: the client).
TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"})
# Step tool calls shown as progress; function calls are the client's, through RequiresAction.
SHOWN_TOOLS = frozenset({"code_interpreter", "file_search", "retrieval"})  # retrieval: v1's file_search
_STEP_TEXT = {
    ("code_interpreter", "in_progress"): "running code…",
    ("code_interpreter", "completed"): "ran code",
    ("file_search", "in_progress"): "searching files…",
    ("file_search", "completed"): "searched files",
}


# --- helpers ---


def _step(call_id: str, kind: str, status: str, code: str | None = None, output: str | None = None) -> Step:
    text = _STEP_TEXT.get((kind, status)) or f"{kind.replace('_', ' ')} {status}"
    return Step(call_id, kind, status, text, code, output)


def is_terminal(status: Any) -> bool:
    return status in TERMINAL


def content_part(part: dict[str, Any]) -> dict[str, Any]:
    """A chat content part as a message content part (images by URL only: the API takes no data URLs)."""
    if part.get("type") == "image_url":
        url = image_url(part)
        if not url.startswith(("https://", "http://")):
            raise ProviderError("invalid_request", "Assistants take images by http(s) URL, not as data URLs.")
        image: dict[str, Any] = {"url": url}
        detail = (part.get("image_url") or {}).get("detail")
        if detail:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": str(part.get("text") or "")}


def run_error(run: dict[str, Any]) -> ProviderError:
    """A failed, expired or cancelled run (``last_error`` text stays private)."""
    status = run.get("status")
    if status == "expired":
        return ProviderError("upstream_timeout", "The assistant's run expired before it finished.", retryable=True)
    if status == "cancelled":
        return ProviderError("upstream_error", "The assistant's run was cancelled upstream.")
    error = run.get("last_error") or {}
    code = error.get("code") if isinstance(error, dict) else None
    if code == "rate_limit_exceeded":
        return ProviderError(
            "upstream_rate_limited", "The provider is rate limiting the assistant's run.", retryable=True
        )
    if code == "invalid_prompt":
        return ProviderError("invalid_request", "The provider rejected the run's prompt as invalid.")
    return ProviderError("upstream_error", "The assistant's run failed upstream.", retryable=True)


def _usage(raw: Any) -> tuple[int, int] | None:
    if not isinstance(raw, dict):
        return None
    return int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)


class RunTracker:
    """One request's view of one run (see the module docstring)."""

    def __init__(self, request: ChatRequest, *, initial: bool) -> None:
        self.request = request
        self.initial = initial  # this request created the run (not a tool-output continuation)
        self.thread_id: str | None = None
        self.run_id: str | None = None
        self.model: str | None = None
        self.started = False  # Opened was yielded: later failures are error events
        self.active = False  # the run exists upstream and has not ended: cancel it if we give up
        self.fetch_messages = False  # polled: completed messages are fetched (streams deliver deltas)
        self.finish_reason: str | None = None
        self.run_usage: tuple[int, int] | None = None
        self.step_usage = [0, 0]
        self.step_usage_seen = False
        self.chars = 0
        self._counted: set[str] = set()  # completed steps whose usage was counted
        self._calls: dict[str, Step] = {}  # shown tool calls by id
        self._delta_calls: dict[tuple[str, int], str] = {}  # (step id, index) -> tool call id
        self._messages_done: set[str] = set()
        self._pending: list[str] = []
        self._text_started = False
        self._separate = False  # the next text opens a new message

    # --- streams ---

    def on_event(self, name: str, data: Any) -> list[Any]:
        try:
            if name == "error":
                error = data.get("error", data) if isinstance(data, dict) else {}
                raise run_error({"status": "failed", "last_error": error})
            if name == "thread.message.delta":
                return self._text(part for part in data["delta"].get("content") or () if part.get("type") == "text")
            if name == "thread.message.created":
                self._message_started()
                return []
            if name == "thread.run.step.delta":
                return self._step_delta(data)
            if name.startswith("thread.run.step."):
                return self.on_step(data)
            if name.startswith("thread.run."):
                events = self.on_run(data)
                return events + self.on_end(data) if is_terminal(data.get("status")) else events
        except (KeyError, TypeError, AttributeError, ValueError):
            raise malformed_event() from None
        return []  # thread.created, thread.message.in_progress/completed, unknown events

    def _step_delta(self, data: dict[str, Any]) -> list[Any]:
        details = (data.get("delta") or {}).get("step_details") or {}
        events: list[Any] = []
        for fragment in details.get("tool_calls") or ():
            key = (data["id"], int(fragment.get("index", 0)))
            call_id = fragment.get("id") or self._delta_calls.get(key)
            if not call_id:
                continue
            self._delta_calls[key] = call_id
            kind = fragment.get("type") or (self._calls[call_id].type if call_id in self._calls else "")
            if kind not in SHOWN_TOOLS:
                continue
            step = self._calls.get(call_id)
            if step is None:
                step = self._calls[call_id] = _step(call_id, _tool_type(kind), "in_progress")
                events.append(_step(step.id, step.type, step.status))
            code = (fragment.get("code_interpreter") or {}).get("input")
            if code:
                step.input = (step.input or "") + code
        return events

    # --- run, step and message objects (streamed and polled) ---

    def on_run(self, run: dict[str, Any]) -> list[Any]:
        self.model = run.get("model") or self.model
        if self.started:
            return []
        if not isinstance(run.get("id"), str):
            raise malformed_event()
        self.run_id = run["id"]
        self.thread_id = run.get("thread_id") or self.thread_id
        self.started = True
        self.active = not is_terminal(run.get("status"))
        return [Opened({"thread_id": self.thread_id or "", "run_id": run["id"]}, self.model)]

    def on_step(self, step: dict[str, Any]) -> list[Any]:
        status = step.get("status") or "in_progress"
        details = step.get("step_details") or {}
        if status == "completed" and step.get("id") not in self._counted:
            self._counted.add(step["id"])
            if (used := _usage(step.get("usage"))) is not None:
                self.step_usage[0] += used[0]
                self.step_usage[1] += used[1]
                self.step_usage_seen = True
        if details.get("type") == "message_creation":
            message_id = (details.get("message_creation") or {}).get("message_id")
            if status == "completed" and self.fetch_messages and message_id and message_id not in self._messages_done:
                self._messages_done.add(message_id)
                self._pending.append(message_id)
            return []
        events: list[Any] = []
        for call in details.get("tool_calls") or ():
            kind = call.get("type")
            if kind not in SHOWN_TOOLS or not call.get("id"):
                continue
            shown = self._calls.get(call["id"])
            body = call.get(kind) or {}
            code = body.get("input") if kind == "code_interpreter" else None
            logs = "".join(o.get("logs") or "" for o in body.get("outputs") or () if isinstance(o, dict)) or None
            if shown is not None and shown.status == status:
                continue
            shown = self._calls[call["id"]] = _step(
                call["id"], _tool_type(kind), status, code or (shown.input if shown else None), logs
            )
            events.append(_step(shown.id, shown.type, shown.status, shown.input, shown.output))
        return events

    def on_message(self, message: dict[str, Any]) -> list[Any]:
        self._message_started()
        return self._text(part for part in message.get("content") or () if part.get("type") == "text")

    def pending_message(self) -> str | None:
        return self._pending.pop(0) if self._pending else None

    def seen(self, steps: list[dict[str, Any]]) -> None:
        """Steps done before this request (a polled continuation): neither counted nor shown again."""
        fetch, self.fetch_messages = self.fetch_messages, True
        for step in steps:
            if step.get("status") == "completed":
                self.on_step(step)
        self.fetch_messages = fetch
        self._pending.clear()
        self.step_usage, self.step_usage_seen = [0, 0], False

    def on_end(self, run: dict[str, Any]) -> list[Any]:
        self.active = False
        status = run.get("status")
        if status in ("failed", "expired", "cancelled"):
            raise run_error(run)
        self.run_usage = _usage(run.get("usage")) or self.run_usage
        if status == "requires_action":
            calls = ((run.get("required_action") or {}).get("submit_tool_outputs") or {}).get("tool_calls") or []
            self.finish_reason = "tool_calls"
            return [RequiresAction([_function_call(call) for call in calls])]
        self.finish_reason = "length" if status == "incomplete" else "stop"
        return []

    def finish(self) -> list[Any]:
        """Usage then Done, once the run has ended."""
        if self.finish_reason is None:
            raise truncated_stream(self.started)
        if self.initial and self.run_usage is not None and self.finish_reason != "tool_calls":
            usage = Usage(*self.run_usage)
        elif self.step_usage_seen or self.finish_reason == "tool_calls":
            usage = Usage(self.step_usage[0], self.step_usage[1])
        else:
            usage = estimate_usage(self.request, self.chars)
        return [usage, Done(self.finish_reason, self.model)]

    # --- text ---

    def _message_started(self) -> None:
        self._separate = self._text_started

    def _text(self, parts: Any) -> list[Any]:
        events: list[Any] = []
        for part in parts:
            value = (part.get("text") or {}).get("value") or ""
            if not value:
                continue
            if self._separate:  # a run's second message starts a paragraph
                self._separate = False
                value = "\n\n" + value
            self._text_started = True
            self.chars += len(value)
            events.append(TextDelta(value))
        return events


def _tool_type(kind: str) -> str:
    return "file_search" if kind == "retrieval" else kind


def _function_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": function.get("name") or "", "arguments": function.get("arguments") or ""},
    }
