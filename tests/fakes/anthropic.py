"""A fake Anthropic API: ``POST /v1/messages`` (streamed or not) and ``GET /v1/models``.

Wire format as documented (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
``message_start`` (usage.input_tokens, cache tokens), ``content_block_start`` /
``content_block_delta`` (``text_delta``, ``input_json_delta``) / ``content_block_stop``, ``ping``,
``message_delta`` (stop_reason, usage.output_tokens), ``message_stop``; ``error`` events mid-stream.
Errors are ``{"type": "error", "error": {"type", "message"}}`` (https://docs.anthropic.com/en/api/errors).
Requests need ``x-api-key`` and ``anthropic-version``.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.script import Fault, Reply
from tests.fakes.server import Exchange, FakeServer, Received, sse

__all__ = ["DEFAULT_MODELS", "FakeAnthropic"]

DEFAULT_MODELS = ["claude-sonnet-4-5", "claude-3-5-haiku-latest", "claude-3-haiku-20240307"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "request-id": "req_fake",
    "anthropic-organization-id": "org-fake",
}

_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


#: What /v1/messages/count_tokens accepts.
_COUNTED = {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}


class FakeAnthropic(FakeServer):
    """Set ``models`` (None accepts any), ``api_key`` (None accepts any), ``page_size`` for /v1/models."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: list[str] | None = list(DEFAULT_MODELS)
        self.page_size = 20

    def reset_vendor(self) -> None:
        self.models = list(DEFAULT_MODELS)
        self.page_size = 20
        self.api_key = "test-key"

    def error_body(self, status: int, error_type: str | None = None) -> dict[str, Any]:
        kind = error_type or _ERRORS.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}, "request_id": "req_fake"}

    def send_error(self, exchange: Exchange, status: int, reply: Reply | None = None) -> None:
        headers = {"request-id": "req_fake"}
        if reply is not None and reply.retry_after is not None:
            headers["retry-after"] = reply.retry_after
        exchange.send_json(status, self.error_body(status, reply.error_code if reply else None), headers)

    def error_event(self) -> bytes:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

    def usage(self, reply: Reply) -> dict[str, Any]:
        # input_tokens excludes cache reads (prompt = input + cache_read + cache_creation)
        return {
            "input_tokens": reply.prompt_tokens - reply.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": 1,
        }

    def frames(self, reply: Reply, model: str) -> list[bytes]:
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(reply) if reply.usage else {},
        }
        frames = [sse({"type": "message_start", "message": message}, "message_start")]
        block = 0
        if reply.text:
            frames.append(
                sse(
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                    "content_block_start",
                )
            )
            frames.append(sse({"type": "ping"}, "ping"))
            for text in reply.text:
                delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
                frames.append(sse(delta, "content_block_delta"))
            frames.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
            block = 1
        for offset, call in enumerate(reply.tool_calls):
            index = block + offset
            start = {"type": "tool_use", "id": call.id or f"toolu_fake{offset}", "name": call.name, "input": {}}
            frames.append(
                sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
            )
            args = call.arguments_json
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                delta = {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                }
                frames.append(sse(delta, "content_block_delta"))
            frames.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        stop = reply.finish or ("tool_use" if reply.tool_calls else "end_turn")
        delta_usage = {"output_tokens": reply.completion_tokens} if reply.usage else {}
        frames.append(
            sse(
                {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": delta_usage},
                "message_delta",
            )
        )
        if reply.fault != Fault.NO_TERMINATOR:
            frames.append(sse({"type": "message_stop"}, "message_stop"))
        return frames

    def message(self, reply: Reply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": "".join(reply.text)}] if reply.text else []
        content += [
            {"type": "tool_use", "id": c.id or f"toolu_fake{i}", "name": c.name, "input": c.arguments}
            for i, c in enumerate(reply.tool_calls)
        ]
        usage = {**self.usage(reply), "output_tokens": reply.completion_tokens}
        stop = reply.finish or ("tool_use" if reply.tool_calls else "end_turn")
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": content,
            "model": model,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    async def handle(self, request: Received, exchange: Exchange) -> None:
        if request.headers.get("x-api-key") != self.api_key and self.api_key is not None:
            self.send_error(exchange, 401)
            return
        if "anthropic-version" not in request.headers:
            exchange.send_json(400, self.error_body(400))
            return
        if request.method == "GET" and request.path == "/v1/models":
            self.list_models(request, exchange)
        elif request.method == "POST" and request.path == "/v1/messages":
            await self.chat(request, exchange)
        elif request.method == "POST" and request.path == "/v1/messages/count_tokens":
            self.count_tokens(request, exchange)
        else:
            self.send_error(exchange, 404)

    def list_models(self, request: Received, exchange: Exchange) -> None:
        models = self.models or []
        limit = min(int(request.query.get("limit", "20")), self.page_size)
        start = models.index(request.query["after_id"]) + 1 if request.query.get("after_id") in models else 0
        page = models[start : start + limit]
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in page]
        exchange.send_json(
            200,
            {
                "data": data,
                "has_more": start + limit < len(models),
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
            },
        )

    def count_tokens(self, request: Received, exchange: Exchange) -> None:
        """Anthropic's counter: a Messages body without max_tokens or stream (extra keys are a 400).
        The fake counts 10 per message, 5 for a system prompt and 20 per tool."""
        body = request.json or {}
        extra = set(body) - _COUNTED
        if extra or "model" not in body or not isinstance(body.get("messages"), list):
            exchange.send_json(400, self.error_body(400))
            return
        reply = self.next_reply()
        if reply.status != 200:
            self.send_error(exchange, reply.status, reply)
            return
        tokens = 10 * len(body["messages"]) + (5 if body.get("system") else 0) + 20 * len(body.get("tools") or ())
        exchange.send_json(200, {"input_tokens": tokens})

    async def chat(self, request: Received, exchange: Exchange) -> None:
        body = request.json or {}
        model = body.get("model")
        if "max_tokens" not in body:
            exchange.send_json(400, self.error_body(400))
            return
        if self.models is not None and model not in self.models:
            self.send_error(exchange, 404)
            return
        reply = self.next_reply()
        if reply.status != 200:
            self.send_error(exchange, reply.status, reply)
            return
        answered = reply.model or model or "unknown"
        if not body.get("stream"):
            exchange.send_json(200, self.message(reply, answered))
            return
        await self.play(exchange, reply, self.frames(reply, answered), SSE_HEADERS)
