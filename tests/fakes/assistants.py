"""A fake Assistants API (v2): assistants, threads, messages, runs and run steps, kept in memory.

OpenAI's scheme (``FakeAssistants()``): ``{url}/v1/assistants``, ``/v1/threads/{id}/runs``…, with
``Authorization: Bearer`` and the ``OpenAI-Beta: assistants=v2`` header (refused without it, as
OpenAI does). Azure's (``FakeAssistants(azure=True)``): ``{anything}/openai/threads/{id}/runs…``
with ``api-version`` in the query and an ``api-key`` header.

A run plays a :class:`RunPlan` (the next one from ``server.plans``, else ``server.plan``): its
events are computed at once and the stored objects take their final state; a streamed run sends
the events (``event: thread.run.created`` … ``event: done``), a polled run (``stream`` false) reads
``in_progress`` for ``polls_before_done`` reads of the run, then its final state. Switches:

* ``RunPlan(code="2+2")`` / ``RunPlan(file_search=True)``: a tool step before the message;
* ``RunPlan(tool_calls=[ToolCall(...)], then=RunPlan(...))``: ``requires_action``; outputs
  submitted to ``submit_tool_outputs`` play ``then``;
* ``RunPlan(outcome="failed" | "expired" | "cancelled" | "incomplete")``;
* ``RunPlan(slow=True)``: stays ``in_progress`` (a stream holds) until cancelled;
* ``server.streaming = False``: a ``stream: true`` run is answered with plain JSON (no SSE).

Cancels are recorded in ``server.cancelled``. Usage: each tool step uses ``step_usage``, the
message step ``message_usage``; a run's ``usage`` is the sum of its completed steps.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.script import ToolCall
from tests.fakes.server import Exchange, FakeServer, Received, sse

__all__ = ["FakeAssistants", "RunPlan", "ToolCall"]

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_ROUTE = re.compile(r"^/(assistants|threads)(?:/([^/]+))?(?:/(messages|runs))?(?:/([^/]+))?(?:/(\w+))?$")


@dataclass
class RunPlan:
    text: list[str] = field(default_factory=lambda: ["Hello", ", world", "!"])
    code: str | None = None
    code_output: str = "4"
    file_search: bool = False
    tool_calls: list[ToolCall] = field(default_factory=list)
    then: RunPlan | None = None  # after the tool outputs (default: a plain text answer)
    outcome: str = "completed"
    error_code: str = "server_error"
    slow: bool = False
    status: int = 200  # non-200: creating the run fails with this status
    message_usage: tuple[int, int] = (12, 7)
    step_usage: tuple[int, int] = (10, 5)


class FakeAssistants(FakeServer):
    def __init__(self, *, azure: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.azure = azure
        self._ids = itertools.count(1)
        self.reset_vendor()

    def reset_vendor(self) -> None:
        self.api_key = "test-key"
        self.assistants: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.plan = RunPlan()
        self.plans: deque[RunPlan] = deque()
        self.streaming = True
        self.polls_before_done = 1
        self.delay = 0.0
        self.cancelled: list[str] = []
        self._waiting: dict[str, tuple[dict[str, Any], RunPlan]] = {}  # run -> (function step, then)
        self._polls: dict[str, int] = {}
        self._slow: set[str] = set()

    @property
    def base_url(self) -> str:
        return self.url if self.azure else f"{self.url}/v1"

    # --- test helpers ---

    def add_assistant(
        self, assistant_id: str, *, name: str = "", model: str = "gpt-4o", author: str | None = None
    ) -> dict[str, Any]:
        assistant = {
            "id": assistant_id,
            "object": "assistant",
            "created_at": 1700000000 + len(self.assistants),
            "name": name or assistant_id,
            "description": None,
            "model": model,
            "instructions": "",
            "tools": [{"type": "code_interpreter"}],
            "metadata": {"author": author} if author else {},
            "top_p": 1.0,
            "temperature": 1.0,
            "response_format": "auto",
        }
        self.assistants[assistant_id] = assistant
        return assistant

    def thread_texts(self, thread_id: str) -> list[tuple[str, str]]:
        return [(m["role"], m["content"][0]["text"]["value"]) for m in self.threads[thread_id]["messages"]]

    # --- routes ---

    def _new(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def _error(self, exchange: Exchange, status: int, message: str, code: str | None = None) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        exchange.send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

    def _refused(self, request: Received) -> tuple[int, str, str | None] | None:
        if self.azure:
            if request.headers.get("api-key") != self.api_key:
                return 401, "Access denied due to invalid subscription key.", "401"
            if "api-version" not in request.query:
                return 400, "The api-version query parameter is required.", "MissingApiVersionParameter"
            return None
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, "Incorrect API key provided.", "invalid_api_key"
        if not request.headers.get("openai-beta", "").startswith("assistants=v2"):
            return 400, "You must provide the 'OpenAI-Beta' header to access the Assistants API.", "invalid_beta"
        return None

    async def handle(self, request: Received, exchange: Exchange) -> None:
        path = request.path.split("/openai", 1)[1] if self.azure and "/openai" in request.path else request.path
        if not self.azure:
            path = path.removeprefix("/v1")
        if (refused := self._refused(request)) is not None:
            self._error(exchange, refused[0], refused[1], refused[2])
            return
        match = _ROUTE.match(path)
        if match is None:
            self._error(exchange, 404, f"Invalid URL ({request.method} {path})")
            return
        kind, first, sub, second, action = match.groups()
        body = request.json or {}
        if kind == "assistants" and request.method == "GET":
            if first is None:
                exchange.send_json(200, self._list_assistants(request.query))
            elif first in self.assistants:
                exchange.send_json(200, self.assistants[first])
            else:
                self._error(exchange, 404, f"No assistant found with id '{first}'.")
            return
        if kind != "threads":
            self._error(exchange, 404, f"Invalid URL ({request.method} {path})")
            return
        if first is None and request.method == "POST":
            thread = self._create_thread(body)
            exchange.send_json(200, {k: v for k, v in thread.items() if k != "messages"})
            return
        thread = self.threads.get(first or "")
        if thread is None:
            self._error(exchange, 404, f"No thread found with id '{first}'.")
            return
        if sub == "messages":
            if request.method == "POST" and second is None:
                exchange.send_json(200, self._add_message(thread, body.get("role", "user"), body.get("content")))
            elif second in self.messages:
                exchange.send_json(200, self.messages[second])
            else:
                self._error(exchange, 404, f"No message found with id '{second}'.")
            return
        if sub == "runs" and second is None:
            if request.method == "POST":
                await self._create_run(exchange, thread, body)
            else:
                runs = sorted((r for r in self.runs.values() if r["thread_id"] == first), key=lambda r: r["created_at"])
                runs = [self._view(r) for r in reversed(runs)][: int(request.query.get("limit", 20))]
                exchange.send_json(200, {"object": "list", "data": runs, "has_more": False})
            return
        run = self.runs.get(second or "")
        if run is None or run["thread_id"] != first:
            self._error(exchange, 404, f"No run found with id '{second}'.")
        elif action is None:
            exchange.send_json(200, self._view(run))
        elif action == "steps":
            exchange.send_json(200, {"object": "list", "data": copy.deepcopy(self.steps[run["id"]]), "has_more": False})
        elif action == "cancel":
            self.cancelled.append(run["id"])
            self._slow.discard(run["id"])
            if run["status"] in ("queued", "in_progress", "requires_action"):
                run.update(status="cancelled", cancelled_at=int(time.time()))
            exchange.send_json(200, {**run, "status": "cancelling"})
        elif action == "submit_tool_outputs" and run["id"] in self._waiting:
            step, then = self._waiting.pop(run["id"])
            await self._answer(exchange, run, body, self._play(run, then, step=step, outputs=body.get("tool_outputs")))
        else:
            self._error(exchange, 400, f"Run {second} cannot take this request (status {run['status']}).")

    # --- objects ---

    def _list_assistants(self, query: dict[str, str]) -> dict[str, Any]:
        items = sorted(self.assistants.values(), key=lambda a: a["created_at"], reverse=query.get("order") != "asc")
        if after := query.get("after"):
            ids = [a["id"] for a in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", 20))
        page = items[:limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }

    def _create_thread(self, body: dict[str, Any]) -> dict[str, Any]:
        thread_id = self._new("thread")
        thread = self.threads[thread_id] = {
            "id": thread_id,
            "object": "thread",
            "created_at": int(time.time()),
            "metadata": body.get("metadata") or {},
            "tool_resources": {},
            "messages": [],
        }
        for message in body.get("messages") or ():
            self._add_message(thread, message.get("role", "user"), message.get("content"))
        return thread

    def _add_message(
        self, thread: dict[str, Any], role: str, content: Any, run_id: str | None = None
    ) -> dict[str, Any]:
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        parts = [
            {"type": "text", "text": {"value": part.get("text", ""), "annotations": []}}
            if part.get("type") == "text"
            else part
            for part in content or ()
        ]
        message = {
            "id": self._new("msg"),
            "object": "thread.message",
            "created_at": int(time.time()),
            "thread_id": thread["id"],
            "role": role,
            "content": parts,
            "status": "completed",
            "assistant_id": None,
            "run_id": run_id,
            "attachments": [],
            "metadata": {},
        }
        self.messages[message["id"]] = message
        thread["messages"].append(message)
        return message

    def _view(self, run: dict[str, Any]) -> dict[str, Any]:
        """What polling a run reads: in_progress for a while, then its real state."""
        if run["id"] in self._slow:
            return {**run, "status": "in_progress"}
        seen = self._polls.get(run["id"], 0)
        self._polls[run["id"]] = seen + 1
        if seen < self.polls_before_done and run["status"] not in ("cancelled",):
            return {**run, "status": "in_progress", "usage": None, "required_action": None}
        return copy.deepcopy(run)

    # --- runs ---

    async def _create_run(self, exchange: Exchange, thread: dict[str, Any], body: dict[str, Any]) -> None:
        plan = self.plans.popleft() if self.plans else self.plan
        if plan.status != 200:
            self._error(
                exchange, plan.status, "The server had an error.", "rate_limit_exceeded" if plan.status == 429 else None
            )
            return
        assistant = self.assistants.get(body.get("assistant_id", ""))
        if assistant is None:
            self._error(exchange, 404, f"No assistant found with id '{body.get('assistant_id')}'.")
            return
        run = {
            "id": self._new("run"),
            "object": "thread.run",
            "created_at": int(time.time()) + len(self.runs),
            "assistant_id": assistant["id"],
            "thread_id": thread["id"],
            "status": "queued",
            "started_at": None,
            "expires_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": body.get("model") or assistant["model"],
            "instructions": assistant["instructions"],
            "tools": assistant["tools"],
            "metadata": {},
            "usage": None,
            "incomplete_details": None,
            "temperature": body.get("temperature", 1.0),
            "top_p": 1.0,
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
        self.runs[run["id"]] = run
        self.steps[run["id"]] = []
        await self._answer(exchange, run, body, self._play(run, plan))

    async def _answer(
        self, exchange: Exchange, run: dict[str, Any], body: dict[str, Any], events: list[tuple[str, dict[str, Any]]]
    ) -> None:
        if not body.get("stream") or not self.streaming:
            exchange.send_json(200, events[0][1])
            return
        exchange.start_stream(SSE_HEADERS)
        for name, data in events:
            if self.delay:
                await asyncio.sleep(self.delay)
            if not await exchange.frame(sse(data, event=name)):
                return
        if run["id"] in self._slow:
            await exchange.hold()
            return
        await exchange.frame(b"event: done\ndata: [DONE]\n\n")
        exchange.end_stream()

    def _play(
        self,
        run: dict[str, Any],
        plan: RunPlan,
        *,
        step: dict[str, Any] | None = None,
        outputs: list[dict[str, Any]] | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """The run's events from here on; the stored objects end in their final state."""
        events: list[tuple[str, dict[str, Any]]] = []

        def emit(name: str, obj: dict[str, Any]) -> None:
            events.append((name, copy.deepcopy(obj)))

        if step is None:
            emit("thread.run.created", run)
        run.update(status="queued", required_action=None)
        emit("thread.run.queued", run)
        run.update(status="in_progress", started_at=int(time.time()))
        emit("thread.run.in_progress", run)
        if step is not None:  # the function calls get their outputs and complete
            for call, output in zip(step["step_details"]["tool_calls"], outputs or (), strict=False):
                call["function"]["output"] = output.get("output")
            self._complete(step, plan.step_usage)
            emit("thread.run.step.completed", step)
        if plan.slow:
            self._slow.add(run["id"])
            return events
        if plan.code is not None:
            self._code_step(run, plan, emit)
        if plan.file_search:
            tool = self._step(run, "tool_calls", [{"id": self._new("call"), "type": "file_search", "file_search": {}}])
            emit("thread.run.step.created", tool)
            self._complete(tool, plan.step_usage)
            emit("thread.run.step.completed", tool)
        if plan.tool_calls:
            calls = [
                {
                    "id": c.id or self._new("call"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json, "output": None},
                }
                for c in plan.tool_calls
            ]
            function_step = self._step(run, "tool_calls", calls)
            emit("thread.run.step.created", function_step)
            for index, call in enumerate(calls):
                delta = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]},
                }
                emit(
                    "thread.run.step.delta",
                    {
                        "id": function_step["id"],
                        "object": "thread.run.step.delta",
                        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [delta]}},
                    },
                )
            required = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                }
                for c in calls
            ]
            run.update(
                status="requires_action",
                required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": required}},
            )
            self._waiting[run["id"]] = (function_step, plan.then or RunPlan(text=["The weather is fine."]))
            emit("thread.run.requires_action", run)
            return events
        if plan.outcome in ("failed", "expired", "cancelled"):
            now = int(time.time())
            run.update(status=plan.outcome, usage=self._usage(run), **{f"{plan.outcome}_at": now})
            if plan.outcome == "failed":
                run["last_error"] = {"code": plan.error_code, "message": "Sorry, something went wrong."}
            emit(f"thread.run.{plan.outcome}", run)
            return events
        self._message_step(run, plan, emit)
        run.update(
            usage=self._usage(run),
            status="incomplete" if plan.outcome == "incomplete" else "completed",
            completed_at=int(time.time()),
        )
        if plan.outcome == "incomplete":
            run["incomplete_details"] = {"reason": "max_completion_tokens"}
        emit(f"thread.run.{run['status']}", run)
        return events

    def _step(self, run: dict[str, Any], kind: str, details: Any) -> dict[str, Any]:
        step_details = {"type": kind, kind: details}
        step = {
            "id": self._new("step"),
            "object": "thread.run.step",
            "created_at": int(time.time()),
            "run_id": run["id"],
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "type": kind,
            "status": "in_progress",
            "step_details": step_details,
            "last_error": None,
            "completed_at": None,
            "usage": None,
        }
        self.steps[run["id"]].append(step)
        return step

    @staticmethod
    def _complete(step: dict[str, Any], usage: tuple[int, int]) -> None:
        step.update(
            status="completed",
            completed_at=int(time.time()),
            usage={"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        )

    def _usage(self, run: dict[str, Any]) -> dict[str, int]:
        done = [s["usage"] for s in self.steps[run["id"]] if s["usage"]]
        prompt = sum(u["prompt_tokens"] for u in done)
        completion = sum(u["completion_tokens"] for u in done)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _code_step(self, run: dict[str, Any], plan: RunPlan, emit: Any) -> None:
        assert plan.code is not None
        step = self._step(run, "tool_calls", [])
        emit("thread.run.step.created", step)
        emit("thread.run.step.in_progress", step)
        call_id = self._new("call")
        half = len(plan.code) // 2
        for index, fragment in enumerate((plan.code[:half], plan.code[half:])):
            call: dict[str, Any] = {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": fragment}}
            if index == 0:
                call.update(id=call_id, code_interpreter={"input": fragment, "outputs": []})
            emit(
                "thread.run.step.delta",
                {
                    "id": step["id"],
                    "object": "thread.run.step.delta",
                    "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
                },
            )
        outputs = [{"type": "logs", "logs": plan.code_output}]
        step["step_details"]["tool_calls"] = [
            {"id": call_id, "type": "code_interpreter", "code_interpreter": {"input": plan.code, "outputs": outputs}}
        ]
        self._complete(step, plan.step_usage)
        emit("thread.run.step.completed", step)

    def _message_step(self, run: dict[str, Any], plan: RunPlan, emit: Any) -> None:
        thread = self.threads[run["thread_id"]]
        message = self._add_message(thread, "assistant", [], run_id=run["id"])
        message.update(assistant_id=run["assistant_id"], status="in_progress")
        step = self._step(run, "message_creation", {"message_id": message["id"]})
        emit("thread.run.step.created", step)
        emit("thread.message.created", message)
        for text in plan.text:
            part = {"index": 0, "type": "text", "text": {"value": text, "annotations": []}}
            emit(
                "thread.message.delta",
                {"id": message["id"], "object": "thread.message.delta", "delta": {"content": [part]}},
            )
        message.update(
            status="completed", content=[{"type": "text", "text": {"value": "".join(plan.text), "annotations": []}}]
        )
        emit("thread.message.completed", message)
        self._complete(step, plan.message_usage)
        emit("thread.run.step.completed", step)
