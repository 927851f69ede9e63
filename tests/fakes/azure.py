"""A fake Azure OpenAI resource.

* ``POST {prefix}/openai/deployments/{deployment}/chat/completions?api-version=…`` (instance and
  base-URL modes; ``prefix`` is anything, e.g. the instance name tests put in the URL);
* ``POST {any other path}/chat/completions`` (serverless: the base URL is the whole URL);
* ``GET {prefix}/openai/models?api-version=…``.

Auth is the ``api-key`` header. Streams begin with Azure's ``prompt_filter_results`` chunk (empty
``choices``) and carry ``content_filter_results`` in choices
(https://learn.microsoft.com/azure/ai-services/openai/reference#chat-completions). Errors are
``{"error": {"code", "message"}}``; 429s carry ``retry-after`` and ``retry-after-ms``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply
from tests.fakes.server import Exchange, Received, sse

__all__ = ["FakeAzure"]

_DEPLOYMENT = re.compile(r"^(?P<prefix>.*)/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
_FILTERS = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}

_ERRORS = {
    400: ("BadRequest", "Invalid request."),
    401: ("401", "Access denied due to invalid subscription key or wrong API endpoint."),
    403: ("403", "Forbidden."),
    404: ("DeploymentNotFound", "The API deployment for this resource does not exist."),
    429: ("429", "Requests have exceeded the token rate limit of your current pricing tier."),
}


class FakeAzure(FakeOpenAI):
    """``deployments`` maps deployment names to models (None: any deployment is fine)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployments: dict[str, str] | None = None
        self.models = None

    def reset_vendor(self) -> None:
        self.deployments = None
        self.models = None
        self.api_key = "test-key"

    @property
    def base_url(self) -> str:
        return self.url

    def authorized(self, request: Received) -> bool:
        return self.api_key is None or request.headers.get("api-key") == self.api_key

    def error_body(self, status: int, code: str | None = None) -> dict[str, Any]:
        default_code, message = _ERRORS.get(status, ("InternalServerError", "The server had an error."))
        return {"error": {"code": code or default_code, "message": message}}

    def send_error(self, exchange: Exchange, status: int, reply: Reply | None = None) -> None:
        headers = {}
        if reply is not None and reply.retry_after is not None:
            headers["retry-after"] = reply.retry_after
            headers["retry-after-ms"] = str(int(float(reply.retry_after) * 1000))
        exchange.send_json(status, self.error_body(status, reply.error_code if reply else None), headers)

    def frames(self, request: Received, reply: Reply, model: str) -> list[bytes]:
        prompt_filter = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTERS}],
        }
        return [sse(prompt_filter), *super().frames(request, reply, model)]

    async def handle(self, request: Received, exchange: Exchange) -> None:
        if request.method == "GET" and request.path.endswith("/openai/models"):
            if not self.authorized(request):
                self.send_error(exchange, 401)
                return
            data = [
                {"id": m, "object": "model", "capabilities": {"chat_completion": True}}
                for m in (self.deployments or {}).values()
            ]
            exchange.send_json(200, {"object": "list", "data": data})
            return
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            exchange.send_json(404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        match = _DEPLOYMENT.match(request.path)
        if match and "api-version" not in request.query:
            exchange.send_json(
                400,
                {
                    "error": {
                        "code": "MissingApiVersionParameter",
                        "message": "The api-version query parameter is required.",
                    }
                },
            )
            return
        model = (request.json or {}).get("model")
        if match and self.deployments is not None:
            deployment = match["deployment"]
            if deployment not in self.deployments:
                self.send_error(exchange, 404)
                return
            model = self.deployments[deployment]
        await self.chat(request, exchange, model)
