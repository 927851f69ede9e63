"""A fake OpenAI API: ``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``.

Wire format as documented (https://platform.openai.com/docs/api-reference/chat-streaming):
``data: {chat.completion.chunk}`` frames, tool-call deltas with ``index``/``id``/``function``, a
final usage chunk with empty ``choices`` when ``stream_options.include_usage`` is set, then
``data: [DONE]``. Errors are ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.script import Fault, Reply
from tests.fakes.server import Exchange, FakeServer, Received, sse

__all__ = ["DEFAULT_MODELS", "FakeOpenAI"]

DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4o", "o3-mini"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": "req_fake",
    "openai-processing-ms": "12",
}

_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-****."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
}


class FakeOpenAI(FakeServer):
    """Set ``models`` (None accepts any model id) and ``api_key`` (None accepts any key)."""

    prefix = "/v1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: list[str] | None = list(DEFAULT_MODELS)

    def reset_vendor(self) -> None:
        self.models = list(DEFAULT_MODELS)
        self.api_key = "test-key"

    @property
    def base_url(self) -> str:
        return f"{self.url}{self.prefix}"

    # --- wire format ---

    def error_body(self, status: int, code: str | None = None) -> dict[str, Any]:
        kind, default_code, message = _ERRORS.get(status, ("server_error", None, "The server had an error."))
        return {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}

    def send_error(self, exchange: Exchange, status: int, reply: Reply | None = None) -> None:
        headers = {}
        if reply is not None and reply.retry_after is not None:
            headers["retry-after"] = reply.retry_after
        exchange.send_json(status, self.error_body(status, reply.error_code if reply else None), headers)

    def authorized(self, request: Received) -> bool:
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    def chunk(self, model: str, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return sse(payload)

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def frames(self, request: Received, reply: Reply, model: str) -> list[bytes]:
        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        frames = [self.chunk(model, choice({"role": "assistant", "content": "", "refusal": None}))]
        frames += [self.chunk(model, choice({"content": text})) for text in reply.text]
        for index, call in enumerate(reply.tool_calls):
            args = call.arguments_json
            head = {
                "index": index,
                "id": call.id or f"call_fake{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            frames.append(self.chunk(model, choice({"tool_calls": [head]})))
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                frames.append(
                    self.chunk(model, choice({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
                )
        finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
        frames.append(self.chunk(model, choice({}, finish)))
        body = request.json or {}
        if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
            frames.append(self.chunk(model, [], self.usage(reply)))
        if reply.fault != Fault.NO_TERMINATOR:
            frames.append(b"data: [DONE]\n\n")
        return frames

    def completion(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text) or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id or f"call_fake{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json},
                }
                for i, c in enumerate(reply.tool_calls)
            ]
        finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self.usage(reply),
        }

    # --- routes ---

    async def handle(self, request: Received, exchange: Exchange) -> None:
        if request.method == "GET" and request.path == f"{self.prefix}/models":
            if not self.authorized(request):
                self.send_error(exchange, 401)
                return
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in self.models or ()
            ]
            exchange.send_json(200, {"object": "list", "data": data})
        elif request.method == "POST" and request.path == f"{self.prefix}/chat/completions":
            await self.chat(request, exchange, (request.json or {}).get("model"))
        else:
            self.send_error(exchange, 404, Reply(error_code="unknown_url"))

    async def chat(self, request: Received, exchange: Exchange, model: str | None) -> None:
        if not self.authorized(request):
            self.send_error(exchange, 401)
            return
        if self.models is not None and model not in self.models:
            self.send_error(exchange, 404)
            return
        reply = self.next_reply()
        if reply.status != 200:
            self.send_error(exchange, reply.status, reply)
            return
        answered = reply.model or model or "unknown"
        if not (request.json or {}).get("stream"):
            exchange.send_json(200, self.completion(reply, answered))
            return
        await self.play(exchange, reply, self.frames(request, reply, answered), SSE_HEADERS)
