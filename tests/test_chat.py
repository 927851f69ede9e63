"""POST /api/chat over a real ASGI server, against the fake upstreams."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.fakes.server import Fault, Reply, ToolCall
from tests.helpers import make_user, recorded, seed

pytestmark = pytest.mark.django_db(transaction=True)


def config(openai: str, anthropic: str, google: str, azure: str) -> str:
    return f"""
version: 1.3.14
endpoints:
  google:
    rateLimit: {{requests: 1000, windowSeconds: 60}}
  azureOpenAI:
    groups:
      - group: east
        apiKey: test-key
        instanceName: east
        baseURL: '{azure}/openai/deployments/${{DEPLOYMENT_NAME}}'
        version: '2024-10-21'
        models:
          gpt-4o: {{deploymentName: gpt4o-prod}}
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o', 'gpt-4o-mini', {{name: 'flaky', fallbacks: ['claude/claude-sonnet-4-5']}}]
    - name: claude
      provider: anthropic
      apiKey: test-key
      baseURL: '{anthropic}'
      models:
        default: ['claude-sonnet-4-5', 'claude-3-5-haiku-20241022']
"""


@pytest.fixture
def chat(settings, fake_openai, fake_anthropic, fake_google, fake_azure, asgi_server):
    env = {"GOOGLE_KEY": "${GOOGLE_KEY}", "GOOGLE_MODELS": "gemini-2.5-flash",
           "GOOGLE_REVERSE_PROXY": fake_google.base_url}  # fmt: skip
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = {"GOOGLE_KEY": "test-key", "GOOGLE_REVERSE_PROXY": fake_google.base_url}
    seed(config(fake_openai.base_url, fake_anthropic.base_url, fake_google.base_url, fake_azure.url), env=env)
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user())
    return Client(asgi_server.url, token.key)


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: dict[str, Any], **kwargs: Any) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json=body, headers=self.headers, timeout=20, **kwargs)

    def events(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        response = self.post(body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse(response.text)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def ask(endpoint: str, model: str, text: str = "Hi", **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize(
    ("endpoint", "model", "fake"),
    [
        ("fakeai", "gpt-4o", "fake_openai"),
        ("claude", "claude-sonnet-4-5", "fake_anthropic"),
        ("google", "gemini-2.5-flash", "fake_google"),
        ("azureOpenAI", "gpt-4o", "fake_azure"),
    ],
)
def test_it_streams_an_answer_with_usage(chat, request, endpoint, model, fake):
    events = chat.events(ask(endpoint, model))
    names = [name for name, _ in events]
    assert names[0] == "created" and names[-1] == "final"
    assert set(names[1:-1]) == {"delta"}
    assert "".join(data["text"] for name, data in events if name == "delta") == "Hello, world!"
    final = events[-1][1]
    assert final["text"] == "Hello, world!"
    assert final["endpoint"] == endpoint and final["model"] == model
    assert final["finish_reason"] == "stop"
    assert final["usage"]["prompt_tokens"] == 12 and final["usage"]["completion_tokens"] == 7
    assert final["usage"]["total_tokens"] == 19 and final["usage"]["estimated"] is False
    created = events[0][1]
    assert created["requestId"] == final["requestId"]
    record = recorded(request_id=final["requestId"])
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("ok", 12, 7)
    assert request.getfixturevalue(fake).last.method == "POST"


def test_it_sends_the_azure_deployment_path(chat, fake_azure):
    chat.events(ask("azureOpenAI", "gpt-4o"))
    assert fake_azure.last.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert fake_azure.last.query["api-version"] == "2024-10-21"
    assert fake_azure.last.headers["api-key"] == "test-key"


def test_it_answers_json_when_not_streaming(chat):
    response = chat.post(ask("fakeai", "gpt-4o", stream=False))
    assert response.status_code == 200
    data = response.json()
    assert data["text"] == "Hello, world!" and data["finish_reason"] == "stop"
    assert data["usage"]["cost_usd"] == pytest.approx((12 * 2.5 + 7 * 10) / 1e6)


def test_it_passes_tool_calls_through(chat, fake_openai):
    fake_openai.reply = Reply(text=[], tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    events = chat.events(ask("fakeai", "gpt-4o", tools=tools))
    final = events[-1][1]
    assert final["finish_reason"] == "tool_calls"
    assert final["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert any("tool_calls" in data for name, data in events if name == "delta")
    assert fake_openai.last.json["tools"] == tools


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"endpoint": "fakeai"}, 400, "invalid_request"),
        (ask("nope", "gpt-4o"), 404, "endpoint_not_found"),
        (ask("fakeai", "gpt-5-unknown"), 404, "model_not_available"),
    ],
)
def test_it_refuses_bad_requests_before_streaming(chat, body, status, kind):
    response = chat.post(body)
    assert response.status_code == status
    assert response.json()["type"] == kind
    assert recorded().error_type == kind


def test_it_rejects_anonymous_chats(chat):
    response = httpx2.post(f"{chat.url}/api/chat", json=ask("fakeai", "gpt-4o"))
    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"


@pytest.mark.parametrize(
    ("reply", "status", "kind"),
    [
        (Reply(status=401), 401, "invalid_api_key"),
        (Reply(status=404), 404, "model_not_available"),
        (Reply(status=429, retry_after="7"), 429, "upstream_rate_limited"),
        (Reply(status=500), 502, "upstream_error"),
    ],
)
def test_it_maps_upstream_refusals_to_http_errors(chat, fake_openai, reply, status, kind):
    fake_openai.reply = reply
    response = chat.post(ask("fakeai", "gpt-4o"))
    assert response.status_code == status
    body = response.json()
    assert body["type"] == kind and body["endpoint"] == "fakeai"
    assert "test-key" not in response.text
    if kind == "upstream_rate_limited":
        assert response.headers["retry-after"] == "7"
    assert recorded().status == "error"


def test_it_ends_a_broken_stream_with_an_error_event(chat, fake_openai):
    fake_openai.reply = Reply(fault=Fault.RESET, after=2)
    events = chat.events(ask("fakeai", "gpt-4o"))
    assert events[-1][0] == "error"
    assert events[-1][1]["type"] == "upstream_error"
    record = recorded()
    assert record.status == "error" and record.estimated is True


def test_it_falls_back_before_the_first_byte(chat, fake_openai, fake_anthropic):
    fake_openai.models = None
    fake_openai.reply = Reply(status=503)
    events = chat.events(ask("fakeai", "flaky"))
    assert events[1] == (
        "fallback",
        {
            "from": {"endpoint": "fakeai", "model": "flaky"},
            "to": {"endpoint": "claude", "model": "claude-sonnet-4-5"},
            "reason": "upstream_error",
        },
    )
    final = events[-1][1]
    assert (final["endpoint"], final["model"]) == ("claude", "claude-sonnet-4-5")
    record = recorded()
    assert (record.endpoint, record.model, record.answered_endpoint) == ("fakeai", "flaky", "claude")


def test_it_does_not_fall_back_after_the_first_byte(chat, fake_openai, fake_anthropic):
    fake_openai.models = None
    fake_openai.reply = Reply(fault=Fault.RESET, after=2)
    events = chat.events(ask("fakeai", "flaky"))
    assert "fallback" not in [name for name, _ in events]
    assert events[-1][0] == "error"
    assert fake_anthropic.requests == []


def test_it_never_sends_an_unset_key_reference_upstream(chat, settings, fake_openai):
    from tests.helpers import seed

    seed(
        "version: 1.3.14\nendpoints:\n  custom:\n"
        f"    - {{name: groq, apiKey: '${{GROQ_API_KEY}}', baseURL: '{fake_openai.base_url}', "
        "models: {default: [gpt-4o]}}\n"
    )
    response = chat.post(ask("groq", "gpt-4o"))
    assert response.status_code == 502
    assert "not set on the server" in response.json()["message"]
    assert fake_openai.requests == []
