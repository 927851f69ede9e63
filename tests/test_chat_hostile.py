"""Generated hostile chat requests through every front end: whatever arrives, the chat ends
cleanly (issue 12).

Hypothesis builds chat bodies — valid JSON with wrong types, lone surrogates, huge and negative
numbers, deep nesting, unknown fields, malformed tools and tool calls, every content-part shape —
and sends them through ``POST /api/chat`` (SSE and JSON), ``/ws/chat/``,
``/v1/chat/completions`` and ``/v1/messages`` to the fake upstreams of every wire format, with a spending limit, a
balance and a concurrency limit of one chat at a time; some clients go away midway.  After each:

* no 5xx but a logged ``internal_error`` that still reached the client as its answer;
* a stream that was read to its end ended with a terminal event;
* no concurrency slot held, no budget hold left, no usage row left ``pending``;
* the same user's next ordinary chat is admitted.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from endpoints.limits.slots import SLOT_KEY
from tests.fakes.server import Reply
from tests.helpers import make_user, recorded, seed
from usage.models import Balance, BalanceSettings, Period, Reservation, SpendingLimit, SpendingWindow, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
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
        default: ['gpt-4o', {{name: 'gpt-4o-mini', fallbacks: ['anthropic/claude-sonnet-4-5']}}]
"""
#: (endpoint, model): one per wire format (custom and openAI: OpenAI's; azureOpenAI; anthropic; google).
TARGETS = [("fakeai", "gpt-4o"), ("fakeai", "gpt-4o-mini"), ("openAI", "gpt-4o"), ("azureOpenAI", "gpt-4o"),
           ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-flash")]  # fmt: skip
HELLO = [{"role": "user", "content": "Hi"}]
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
#: A value spliced into the JSON text as it is (deeper than any parser should follow).
DEEP = "@@deep@@"
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "200"))

# --- what hostile clients send ---------------------------------------------------------------------

surrogates = st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800", "\ud83d"])
texts = st.one_of(st.text(max_size=12), surrogates, st.sampled_from(["", "\x00", "a\nb", "x" * 5000]))
numbers = st.one_of(st.integers(-(10**40), 10**40), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, -1, 1, 2**63, 10**30, 1e30, 0.5]))  # fmt: skip
deep = st.integers(10, 3000).map(lambda depth: (DEEP, depth))
junk = st.recursive(
    st.none() | st.booleans() | numbers | texts | deep,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
images = st.one_of(junk, st.fixed_dictionaries(
    {"url": st.sampled_from([PIXEL, "https://example.com/a.png", "ftp://x", "", "data:xx"]) | junk}))  # fmt: skip
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts | junk}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": images}),
    st.fixed_dictionaries({"type": texts | junk}),
    junk,
)
contents = st.one_of(texts, st.lists(parts, max_size=3), junk)
functions = st.one_of(junk, st.fixed_dictionaries(
    {"name": texts | junk, "arguments": st.sampled_from(['{"a": 1}', "not json", "[]"]) | junk}))  # fmt: skip
tool_calls = st.one_of(junk, st.lists(st.one_of(junk, st.fixed_dictionaries(
    {"id": texts | junk, "type": st.just("function"), "function": functions})), max_size=2))  # fmt: skip
messages = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "developer"]) | junk, "content": contents}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none() | contents, "tool_calls": tool_calls}),
    st.fixed_dictionaries({"role": st.just("tool"), "content": contents, "tool_call_id": texts | junk}),
    junk,
)
tools = st.one_of(junk, st.lists(st.one_of(junk, st.fixed_dictionaries({"type": st.just("function"), "function": (
    st.fixed_dictionaries({"name": texts | junk, "parameters": junk | st.just({"type": "object"})}) | junk)})),
    max_size=2))  # fmt: skip
tool_choices = st.one_of(st.sampled_from(["auto", "none", "required"]), junk, st.fixed_dictionaries(
    {"type": st.just("function"), "function": junk | st.fixed_dictionaries({"name": texts})}))  # fmt: skip
#: field -> what may be sent in it; a body gets a few of these, the rest stays ordinary.
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "messages": st.one_of(st.lists(messages, max_size=3), junk),
    "message": messages,  # one hostile message after an ordinary one
    "model": texts | junk,
    "endpoint": texts | junk,
    "conversationId": texts | junk,
    "stream": junk,
    "max_tokens": numbers | junk,
    "temperature": numbers | junk,
    "top_p": numbers | junk,
    "stop": st.lists(texts, max_size=3) | junk,
    "tools": tools,
    "tool_choice": tool_choices,
    "response_format": junk | st.just({"type": "json_object"}),
    "unknown": junk,
    "parameters": junk,
}


@dataclass(frozen=True)
class Plan:
    target: tuple[str, str]
    changes: dict[str, Any]
    stream: bool
    leave: bool  # the client goes away after the first bytes


plans = st.builds(
    Plan,
    target=st.sampled_from(TARGETS),
    changes=st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: FIELDS[key] for key in keys})),
    stream=st.booleans(),
    leave=st.booleans(),
)  # fmt: skip


def _splice(value: Any) -> tuple[Any, dict[str, int]]:
    """Replace deep markers by placeholders; their depths, to splice into the text."""
    found: dict[str, int] = {}

    def walk(item: Any) -> Any:
        if isinstance(item, tuple) and len(item) == 2 and item[0] == DEEP:
            key = f"@@deep{len(found)}@@"
            found[key] = item[1]
            return key
        if isinstance(item, list):
            return [walk(x) for x in item]
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        return item

    return walk(value), found


def encode(body: dict[str, Any]) -> bytes:
    """JSON text as a hostile client writes it: lone surrogates escaped, deep values spliced in."""
    plain, deep_values = _splice(body)
    text = json.dumps(plain)  # ensure_ascii: a lone surrogate becomes its \\udXXX escape, valid JSON
    for key, depth in deep_values.items():
        text = text.replace(json.dumps(key), "[" * depth + "]" * depth)
    return text.encode()


def chat_body(plan: Plan) -> dict[str, Any]:
    """A ``/api/chat`` body: ordinary, then the plan's changes."""
    body: dict[str, Any] = {"endpoint": plan.target[0], "model": plan.target[1], "messages": HELLO,
                            "stream": plan.stream, "parameters": {"max_tokens": 50}}  # fmt: skip
    for key, value in plan.changes.items():
        if key in ("max_tokens", "temperature", "top_p", "stop", "unknown") and isinstance(body["parameters"], dict):
            body["parameters"][key] = value
        elif key == "message":
            body["messages"] = [*HELLO, value]
        else:
            body[key] = value
    return body


def gateway_body(plan: Plan) -> dict[str, Any]:
    """A ``/v1/chat/completions`` body: OpenAI's shape, the same changes."""
    body: dict[str, Any] = {"model": "/".join(plan.target), "messages": HELLO, "stream": plan.stream,
                            "max_tokens": 50}  # fmt: skip
    for key, value in plan.changes.items():
        if key == "message":
            body["messages"] = [*HELLO, value]
        elif key == "endpoint":
            body["model"] = value
        elif key not in ("conversationId", "parameters"):
            body[key] = value
    if plan.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def messages_body(plan: Plan) -> dict[str, Any]:
    """A ``/v1/messages`` body: Anthropic's shape, the same changes (OpenAI-shaped ones are hostile there too)."""
    body: dict[str, Any] = {"model": "/".join(plan.target), "messages": HELLO, "stream": plan.stream,
                            "max_tokens": 50}  # fmt: skip
    for key, value in plan.changes.items():
        if key == "message":
            body["messages"] = [*HELLO, value]
        elif key == "endpoint":
            body["model"] = value
        elif key not in ("conversationId", "parameters"):
            body[key] = value
    return body


# --- what the client sees ------------------------------------------------------------------------------


@dataclass
class Seen:
    status: int
    kind: str | None  # the error type of an error answer
    ended: bool  # the answer ended with a terminal event (or was a plain response)


TERMINAL_SSE = (b"event: final", b"event: error", b"event: requires_action")


def _error_kind(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "error":  # Anthropic's shape (/v1/messages)
        return data["error"]["details"]["error_code"]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"].get("code")
    return data.get("type") if isinstance(data, dict) else None


def over_http(url: str, token: str, body: bytes, *, leave: bool, terminal: Callable[[bytes], bool]) -> Seen:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx2.Client(timeout=30) as client, client.stream("POST", url, content=body, headers=headers) as response:
        if leave:
            next(response.iter_raw(), b"")
            return Seen(response.status_code, None, True)
        data = response.read()
    is_stream = response.headers.get("content-type", "").startswith("text/event-stream")
    kind = None if is_stream else _error_kind(data) if response.status_code >= 400 else None
    return Seen(response.status_code, kind, terminal(data) if is_stream else True)


def over_websocket(url: str, token: str, body: bytes, *, leave: bool) -> Seen:
    with connect(url.replace("http://", "ws://") + "/ws/chat/", additional_headers={"Authorization": f"Bearer {token}"},
                 open_timeout=10) as socket:  # fmt: skip
        socket.send(body.decode())
        while True:
            message = json.loads(socket.recv(timeout=30))
            if leave:
                return Seen(200, None, True)
            if message["event"] in ("final", "error", "requires_action"):
                data = message["data"]
                status = data.get("status", 200) if message["event"] == "error" else 200
                return Seen(status, data.get("type") if message["event"] == "error" else None, True)


# --- the harness -----------------------------------------------------------------------------------------


@dataclass
class Harness:
    url: str
    token: str
    user_id: int
    internal_errors: list[logging.LogRecord]

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{what} (still true after {timeout} s)"
            time.sleep(0.02)

    def check_clean(self) -> None:
        self.wait(lambda: not UsageRecord.objects.filter(status="pending").exists(), "a usage row stayed pending")
        self.wait(lambda: not Reservation.objects.exists(), "a budget reservation was left")
        self.wait(lambda: not cache.get_many([SLOT_KEY.format(self.user_id, n) for n in range(2)]),
                  "a concurrency slot was left")  # fmt: skip
        assert Balance.objects.get(user_id=self.user_id).reserved == 0
        assert all(w.reserved_usd == 0 for w in SpendingWindow.objects.all())
        ordinary = {"endpoint": "fakeai", "model": "gpt-4o", "messages": HELLO, "stream": False}
        response = httpx2.post(f"{self.url}/api/chat", json=ordinary, timeout=30,
                               headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        assert response.status_code == 200, response.text
        self.wait(lambda: not UsageRecord.objects.filter(status="pending").exists(), "the ordinary chat stayed pending")

    def check_answer(self, seen: Seen) -> None:
        if seen.status >= 500:
            assert (seen.status, seen.kind) == (500, "internal_error"), seen
            assert self.internal_errors, "an internal_error that was not logged"
        assert seen.ended, "a stream read to its end had no terminal event"


@pytest.fixture
def harness(settings, caplog, fake_openai, fake_anthropic, fake_google, fake_azure, asgi_server) -> Harness:
    urls = {"OPENAI_REVERSE_PROXY": fake_openai.base_url, "ANTHROPIC_REVERSE_PROXY": fake_anthropic.base_url,
            "GOOGLE_REVERSE_PROXY": fake_google.base_url}  # fmt: skip
    env = {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}",
           "GOOGLE_KEY": "${GOOGLE_KEY}", "GOOGLE_MODELS": "gemini-2.5-flash", **urls}  # fmt: skip
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = {"OPENAI_API_KEY": "test-key", "ANTHROPIC_API_KEY": "test-key", "GOOGLE_KEY": "test-key",
                        **urls}  # fmt: skip
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 1
    settings.LIMIT_MESSAGE_IP, settings.MESSAGE_IP_MAX = True, 1_000_000
    seed(CONFIG.format(openai=fake_openai.base_url, azure=fake_azure.url), env=env)
    for fake in (fake_openai, fake_anthropic, fake_google, fake_azure):
        fake.reply = Reply(text=["Hello"] * 8, delay=0.005)
    user = make_user()
    BalanceSettings.objects.update_or_create(pk=1, defaults={"enabled": True, "start_balance": Decimal(0)})
    Balance.objects.create(user=user, credits=Decimal(10) ** 12)
    SpendingLimit.objects.create(period=Period.DAY, amount_usd=Decimal(10_000), shared=True)
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user).key
    caplog.set_level(logging.ERROR)
    internal = _InternalErrors()
    logging.getLogger().addHandler(internal)
    yield Harness(asgi_server.url, token, user.pk, internal.records)  # type: ignore[misc]
    logging.getLogger().removeHandler(internal)


class _InternalErrors(logging.Handler):
    """Exceptions the service logged (``log.exception``): each internal_error must have one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])  # fmt: skip


def _sse_terminal(data: bytes) -> bool:
    return any(marker in data for marker in TERMINAL_SSE)


def _openai_terminal(data: bytes) -> bool:
    return data.rstrip().endswith(b"data: [DONE]") or b'data: {"error"' in data


@SETTINGS
@given(plan=plans)
def test_it_ends_every_api_chat_cleanly(harness: Harness, plan: Plan) -> None:
    seen = over_http(f"{harness.url}/api/chat", harness.token, encode(chat_body(plan)), leave=plan.leave,
                     terminal=_sse_terminal)  # fmt: skip
    harness.check_answer(seen)
    harness.check_clean()


@SETTINGS
@given(plan=plans)
def test_it_ends_every_websocket_chat_cleanly(harness: Harness, plan: Plan) -> None:
    seen = over_websocket(harness.url, harness.token, encode(chat_body(plan)), leave=plan.leave)
    harness.check_answer(seen)
    harness.check_clean()


@SETTINGS
@given(plan=plans)
def test_it_ends_every_gateway_completion_cleanly(harness: Harness, plan: Plan) -> None:
    seen = over_http(f"{harness.url}/v1/chat/completions", harness.token, encode(gateway_body(plan)),
                     leave=plan.leave, terminal=_openai_terminal)  # fmt: skip
    harness.check_answer(seen)
    harness.check_clean()


def _anthropic_terminal(data: bytes) -> bool:
    return b"event: message_stop" in data or b"event: error" in data


@SETTINGS
@given(plan=plans)
def test_it_ends_every_gateway_message_cleanly(harness: Harness, plan: Plan) -> None:
    seen = over_http(f"{harness.url}/v1/messages", harness.token, encode(messages_body(plan)), leave=plan.leave,
                     terminal=_anthropic_terminal)  # fmt: skip
    harness.check_answer(seen)
    harness.check_clean()


# --- the requests that were seen to escape the chat's cleanup, one by one -------------------------------

SEEN = [
    pytest.param({"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content", id="lone-surrogate"),
    pytest.param({"endpoint": "anthropic", "model": "claude-sonnet-4-5",
                  "messages": [*HELLO, {"role": "assistant", "content": None, "tool_calls": [1]}]},
                 "messages[1].tool_calls[0]", id="anthropic-tool-calls"),
    pytest.param({"endpoint": "google", "model": "gemini-2.5-flash",
                  "messages": [*HELLO, {"role": "assistant", "content": None, "tool_calls": [1]}]},
                 "messages[1].tool_calls[0]", id="gemini-tool-calls"),
    pytest.param({"endpoint": "anthropic", "model": "claude-sonnet-4-5",
                  "tool_choice": {"type": "function", "function": "x"}}, "tool_choice", id="anthropic-tool-choice"),
    pytest.param({"endpoint": "google", "model": "gemini-2.5-flash",
                  "tool_choice": {"type": "function", "function": "x"}}, "tool_choice", id="gemini-tool-choice"),
    pytest.param({"parameters": {"max_tokens": 10**30}}, "parameters.max_tokens", id="huge-max-tokens"),
    pytest.param({"messages": [{"role": "user", "content": [{"type": "text", "text": 123}]}]},
                 "messages[0].content[0].text", id="text-part-not-text"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), SEEN)
@pytest.mark.parametrize("leave", [False, True])
def test_it_refuses_what_once_escaped_cleanup_naming_the_field(harness: Harness, change, field, leave) -> None:
    body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": HELLO, "stream": True, **change}
    if leave:  # the client goes away as soon as it has the first bytes
        seen = over_http(f"{harness.url}/api/chat", harness.token, encode(body), leave=True, terminal=_sse_terminal)
        assert seen.status == 400
    else:
        response = httpx2.post(f"{harness.url}/api/chat", content=encode(body), timeout=30,
                               headers={"Authorization": f"Bearer {harness.token}"})  # fmt: skip
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "invalid_request"
        assert field in response.json()["errors"], response.json()
    harness.check_clean()
    assert recorded(error_type="invalid_request").status == "error"  # committed just after the answer


# --- a bug of ours, before and after the first byte -----------------------------------------------------


def _broken_stream(after: int) -> Callable[..., Any]:
    async def stream_chat(self: Any, request: Any) -> Any:
        from endpoints.providers.base import TextDelta

        for _ in range(after):
            yield TextDelta("Hello")
        raise RuntimeError("a bug of ours")

    return stream_chat


@pytest.mark.parametrize("after", [0, 2], ids=["before-first-byte", "mid-stream"])
@pytest.mark.parametrize("front", ["sse", "json", "websocket", "gateway", "messages"])
def test_it_answers_an_unexpected_error_as_a_logged_internal_error(harness: Harness, monkeypatch, front, after):
    from endpoints.providers.openai import OpenAIProvider

    monkeypatch.setattr(OpenAIProvider, "stream_chat", _broken_stream(after))
    monkeypatch.setattr(OpenAIProvider, "complete_chat", _broken_stream(after))
    stream = front != "json"
    body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": HELLO, "stream": stream}
    if front == "websocket":
        seen = over_websocket(harness.url, harness.token, encode(body), leave=False)
    elif front == "gateway":
        gateway = {"model": "fakeai/gpt-4o", "messages": HELLO, "stream": True}
        seen = over_http(f"{harness.url}/v1/chat/completions", harness.token, encode(gateway), leave=False,
                         terminal=lambda data: b'"code":"internal_error"' in data)  # fmt: skip
        seen.kind = "internal_error" if seen.ended and seen.status == 200 else seen.kind
    elif front == "messages":
        message = {"model": "fakeai/gpt-4o", "max_tokens": 50, "messages": HELLO, "stream": True}
        seen = over_http(f"{harness.url}/v1/messages", harness.token, encode(message), leave=False,
                         terminal=lambda data: b"event: error" in data and b'"internal_error"' in data)  # fmt: skip
        seen.kind = "internal_error" if seen.ended and seen.status == 200 else seen.kind
    else:
        seen = over_http(f"{harness.url}/api/chat", harness.token, encode(body), leave=False,
                         terminal=lambda data: b"event: error" in data and b'"internal_error"' in data)  # fmt: skip
    assert seen.ended
    assert seen.status in (200, 500) and (seen.status == 200 or seen.kind == "internal_error"), seen
    assert any("a bug of ours" in str(record.exc_info[1]) for record in harness.internal_errors)
    monkeypatch.undo()
    harness.check_clean()
    record = recorded(status="error")
    assert (record.status, record.error_type) == ("error", "internal_error")
