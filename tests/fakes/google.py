"""A fake Gemini API: ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``,
``POST /v1beta/models/{model}:generateContent`` and ``GET /v1beta/models``.

Wire format as documented (https://ai.google.dev/api/generate-content): each SSE frame is a whole
GenerateContentResponse (``candidates[].content.parts``, ``finishReason`` on the last,
cumulative ``usageMetadata``, ``modelVersion``), frames end with ``\\r\\n\\r\\n`` as Google's do,
and there is no terminator: the body just ends. Function calls come whole, as
``{"functionCall": {"name", "args"}}`` parts. Errors are google.rpc.Status
(``{"error": {"code", "message", "status", "details"}}``); a bad key is a 400 with reason
API_KEY_INVALID; a 429 carries a RetryInfo detail.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.script import Fault, Reply
from tests.fakes.server import Exchange, FakeServer, Received

__all__ = ["DEFAULT_MODELS", "FakeGoogle"]

DEFAULT_MODELS = ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-3-pro-preview"]

SSE_HEADERS = {
    "content-type": "text/event-stream",
    "content-disposition": "attachment",
    "x-content-type-options": "nosniff",
    "server": "scaffolding on HTTPServer2",
}

_ROUTE = re.compile(
    r"^/v1beta/(?P<name>(?:models|tunedModels)/[^:]+):(?P<method>streamGenerateContent|generateContent|countTokens)$"
)
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\r\n\r\n"


class FakeGoogle(FakeServer):
    """Set ``models`` (None accepts any), ``api_key`` (None accepts any), ``page_size`` for /v1beta/models."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: list[str] | None = list(DEFAULT_MODELS)
        self.page_size = 50

    def reset_vendor(self) -> None:
        self.models = list(DEFAULT_MODELS)
        self.page_size = 50
        self.api_key = "test-key"

    def error_body(self, status: int, reply: Reply | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": status, "message": "fake error", "status": _STATUS.get(status, "UNKNOWN")}
        if status == 429:
            delay = reply.retry_after if reply and reply.retry_after else "7"
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"}]
        if reply is not None and reply.error_code:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reply.error_code}]
        return {"error": error}

    def bad_key(self, exchange: Exchange) -> None:
        body = self.error_body(400, Reply(error_code="API_KEY_INVALID"))
        body["error"]["message"] = "API key not valid. Please pass a valid API key."
        exchange.send_json(400, body)

    def error_event(self) -> bytes:
        return _frame({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})

    def usage(self, reply: Reply) -> dict[str, Any]:
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": reply.completion_tokens,
            "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
        }
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        return usage

    def responses(self, reply: Reply, model: str) -> list[dict[str, Any]]:
        parts: list[list[dict[str, Any]]] = [[{"text": text}] for text in reply.text]
        if reply.tool_calls:
            parts.append([{"functionCall": {"name": c.name, "args": c.arguments}} for c in reply.tool_calls])
        if not parts:
            parts = [[{"text": ""}]]
        responses = []
        for index, chunk in enumerate(parts):
            candidate: dict[str, Any] = {"content": {"parts": chunk, "role": "model"}, "index": 0}
            last = index == len(parts) - 1
            if last and reply.fault != Fault.NO_TERMINATOR:
                candidate["finishReason"] = reply.finish or "STOP"
            response: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "fake"}
            if reply.usage:
                response["usageMetadata"] = self.usage(reply) if last else {"promptTokenCount": reply.prompt_tokens}
            responses.append(response)
        return responses

    async def handle(self, request: Received, exchange: Exchange) -> None:
        if self.api_key is not None and request.headers.get("x-goog-api-key") != self.api_key:
            self.bad_key(exchange)
            return
        if request.method == "GET" and request.path == "/v1beta/models":
            self.list_models(request, exchange)
            return
        route = _ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            exchange.send_json(404, self.error_body(404))
            return
        model = route["name"].removeprefix("models/")
        if self.models is not None and model not in self.models:
            exchange.send_json(404, self.error_body(404))
            return
        reply = self.next_reply()
        if reply.status != 200:
            headers = {"retry-after": reply.retry_after} if reply.retry_after and reply.status != 429 else {}
            exchange.send_json(reply.status, self.error_body(reply.status, reply), headers)
            return
        if route["method"] == "countTokens":
            self.count_tokens(request, exchange, route["name"])
            return
        responses = self.responses(reply, reply.model or model)
        if route["method"] == "generateContent":
            merged = responses[-1]
            merged["candidates"][0]["content"]["parts"] = [
                p for r in responses for p in r["candidates"][0]["content"]["parts"]
            ]
            merged["usageMetadata"] = self.usage(reply)  # Reply.usage=False only strips it from streams
            exchange.send_json(200, merged)
            return
        if request.query.get("alt") != "sse":  # without alt=sse Google streams one JSON array
            exchange.send_json(200, responses)
            return
        await self.play(exchange, reply, [_frame(r) for r in responses], SSE_HEADERS)

    def count_tokens(self, request: Received, exchange: Exchange, name: str) -> None:
        """Google's counter, given ``contents`` or a whole ``generateContentRequest`` (which names its
        model).  The fake counts 10 per content, 5 for a system instruction and 20 per function."""
        body = request.json or {}
        whole = body.get("generateContentRequest")
        if whole is not None and whole.get("model") != name:
            exchange.send_json(400, self.error_body(400))
            return
        asked = whole if whole is not None else body
        if not isinstance(asked.get("contents"), list):
            exchange.send_json(400, self.error_body(400))
            return
        functions = sum(len(t.get("functionDeclarations") or ()) for t in asked.get("tools") or ())
        tokens = 10 * len(asked["contents"]) + (5 if asked.get("systemInstruction") else 0) + 20 * functions
        exchange.send_json(
            200, {"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}
        )

    def list_models(self, request: Received, exchange: Exchange) -> None:
        models = self.models or []
        size = min(int(request.query.get("pageSize", "50")), self.page_size)
        start = int(request.query.get("pageToken") or 0)
        page = models[start : start + size]
        items = [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for m in page
        ]
        if start == 0:  # an embedding model, which chat must not list
            items.append({"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]})
        body: dict[str, Any] = {"models": items}
        if start + size < len(models):
            body["nextPageToken"] = str(start + size)
        exchange.send_json(200, body)
