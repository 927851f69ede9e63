"""Every path of a chat leaves exactly one usage record, finalized once: answers, each error before
the first byte, an error after it, a client that leaves, and replays."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from core.outcome import Outcome
from tests.fakes.server import Fault, Reply
from tests.helpers import make_user, seed
from usage import ledger as services
from usage.models import Balance, BalanceSettings, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o', {{name: 'flaky', fallbacks: ['claude/claude-sonnet-4-5']}}]
    - name: claude
      provider: anthropic
      apiKey: test-key
      baseURL: '{anthropic}'
      models:
        default: ['claude-sonnet-4-5']
    - name: byok
      apiKey: user_provided
      baseURL: '{openai}'
      models:
        default: ['gpt-4o']
"""
#: gpt-4o at $2.50 / $10 per 1M for the fake's 12 prompt and 7 completion tokens.
GPT_4O_COST = Decimal("0.0001")


class Chat:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: Any, path: str = "/api/chat") -> httpx2.Response:
        return httpx2.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=20)


@pytest.fixture
def chat(settings, fake_openai, fake_anthropic, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_CONCURRENT_MESSAGES = False
    seed(CONFIG.format(openai=fake_openai.base_url, anthropic=fake_anthropic.url))
    from rest_framework.authtoken.models import Token

    return Chat(asgi_server.url, Token.objects.create(user=make_user()).key)


def ask(model: str = "gpt-4o", endpoint: str = "fakeai", **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}


def settled(count: int = 1, timeout: float = 10) -> list[UsageRecord]:
    """The records once ``count`` of them are final (none pending)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(UsageRecord.objects.order_by("created_at", "id"))
        if (len(rows) >= count and all(r.status != "pending" for r in rows)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def only_record(**expected: Any) -> UsageRecord:
    rows = settled()
    assert len(rows) == 1, [(r.request_id, r.status) for r in rows]
    row = rows[0]
    assert {name: getattr(row, name) for name in expected} == expected
    assert row.finished_at is not None and row.latency_ms is not None
    return row


@pytest.mark.parametrize("stream", [True, False])
def test_it_records_an_answer_with_its_tokens_cost_and_timings(chat, stream):
    response = chat.post(ask(stream=stream, conversationId="conv-1"))
    assert response.status_code == 200
    row = only_record(status="ok", error_type="", endpoint="fakeai", model="gpt-4o", answered_endpoint="fakeai",
                      answered_model="gpt-4o", prompt_tokens=12, completion_tokens=7, estimated=False,
                      cost_usd=GPT_4O_COST, via="api")  # fmt: skip
    assert row.ttft_ms is not None and row.ttft_ms <= row.latency_ms
    assert row.request_id in response.text


def test_it_records_the_conversation_id(chat):
    assert chat.post(ask(conversationId="conv-1")).status_code == 200
    only_record(conversation_id="conv-1")


def test_it_records_the_fallback_that_answered(chat, fake_openai):
    fake_openai.models = None
    fake_openai.reply = Reply(status=503)
    assert chat.post(ask("flaky")).status_code == 200
    only_record(status="ok", endpoint="fakeai", model="flaky", answered_endpoint="claude",
                answered_model="claude-sonnet-4-5")  # fmt: skip


def _timeout(settings: Any, fake: Any) -> None:
    settings.UPSTREAM_FIRST_TOKEN_TIMEOUT = 0.3
    fake.reply = Reply(fault=Fault.NO_FIRST_BYTE)


def _budget(settings: Any, fake: Any) -> None:
    BalanceSettings.objects.create(enabled=True)
    Balance.objects.create(user=UsageRecord._meta.get_field("user").related_model.objects.get(), credits=0)


def _rate_limit(settings: Any, fake: Any) -> None:
    settings.LIMIT_MESSAGE_USER = True
    settings.MESSAGE_USER_MAX = 1


@pytest.mark.parametrize(
    ("body", "prepare", "status", "kind"),
    [
        ({"endpoint": "fakeai"}, None, 400, "invalid_request"),
        (ask(endpoint="nope"), None, 404, "endpoint_not_found"),
        (ask("gpt-5-unknown"), None, 404, "model_not_available"),
        (ask(endpoint="byok"), None, 400, "no_user_key"),
        (ask(), lambda s, f: setattr(f, "reply", Reply(status=401)), 401, "invalid_api_key"),
        (ask(), lambda s, f: setattr(f, "reply", Reply(status=429, retry_after="3")), 429, "upstream_rate_limited"),
        (ask(), lambda s, f: setattr(f, "reply", Reply(status=500)), 502, "upstream_error"),
        (ask(), _timeout, 504, "upstream_timeout"),
        (ask(), _budget, 402, "budget_exceeded"),
    ],
)
def test_it_records_each_error_before_the_first_byte_once(chat, settings, fake_openai, body, prepare, status, kind):
    if prepare:
        prepare(settings, fake_openai)
    response = chat.post(body)
    assert (response.status_code, response.json()["type"]) == (status, kind)
    row = only_record(status="error", error_type=kind, cost_usd=None)
    assert (row.prompt_tokens, row.completion_tokens) == (0, 0)  # nothing was answered


def test_it_records_a_refusal_by_our_rate_limit_once_per_request(chat, settings):
    _rate_limit(settings, None)
    assert chat.post(ask()).status_code == 200
    refused = chat.post(ask())
    assert (refused.status_code, refused.json()["type"]) == (429, "rate_limit_exceeded")
    rows = settled(2)
    assert [(r.status, r.error_type) for r in rows] == [("ok", ""), ("error", "rate_limit_exceeded")]


def test_it_records_an_error_after_the_first_byte_with_what_was_streamed(chat, fake_openai):
    fake_openai.reply = Reply(text=["Hello", ", world", "!"], fault=Fault.RESET, after=2)
    response = chat.post(ask())
    assert response.status_code == 200 and "event: error" in response.text
    row = only_record(status="error", error_type="upstream_error", estimated=True)
    assert row.completion_tokens > 0 and row.cost_usd is not None and row.cost_usd > 0


def test_it_records_a_client_that_leaves_once(chat, fake_openai):
    fake_openai.reply = Reply(text=["word "] * 200, delay=0.05)
    with httpx2.stream("POST", f"{chat.url}/api/chat", json=ask(), headers=chat.headers, timeout=20) as response:
        for line in response.iter_lines():
            if line == "event: delta":
                break
    assert fake_openai.wait_for(lambda: fake_openai.last.disconnected, timeout=10)
    row = only_record(status="client_aborted", estimated=True)
    assert row.completion_tokens > 0


def test_it_records_gateway_and_websocket_chats_too(chat):
    answer = chat.post({"model": "fakeai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
                       path="/v1/chat/completions")  # fmt: skip
    assert answer.status_code == 200

    async def over_websocket() -> None:
        from websockets.asyncio.client import connect

        url = chat.url.replace("http://", "ws://") + "/ws/chat/"
        async with connect(url, additional_headers=chat.headers) as socket:
            await socket.send(json.dumps(ask()))
            while json.loads(await socket.recv())["event"] not in ("final", "error"):
                pass

    asyncio.run(over_websocket())
    rows = settled(2)
    assert sorted((r.via, r.status, r.cost_usd) for r in rows) == [
        ("gateway", "ok", GPT_4O_COST), ("websocket", "ok", GPT_4O_COST),
    ]  # fmt: skip


def test_it_adds_nothing_when_a_finalization_is_replayed(chat):
    assert chat.post(ask()).status_code == 200
    row = only_record(status="ok")
    replay = Outcome(status="error", error_type="upstream_error", prompt_tokens=999, cost_usd=Decimal(5))
    results: list[bool] = []

    def again() -> None:
        results.append(services.finish_sync(row.request_id, replay))

    threads = [threading.Thread(target=again) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [False] * 5
    assert asyncio.run(services.finish(row.request_id, replay)) is False
    after = only_record(status="ok", prompt_tokens=12, cost_usd=GPT_4O_COST)
    assert after.finished_at == row.finished_at


def test_it_never_leaves_a_record_pending(chat, fake_openai):
    cases: list[Callable[[], Any]] = [
        lambda: chat.post(ask()),
        lambda: chat.post({"endpoint": "fakeai"}),
        lambda: chat.post(ask("gpt-5-unknown")),
    ]
    for case in cases:
        case()
    rows = settled(3)
    assert len(rows) == 3 and {r.status for r in rows} == {"ok", "error"}
    assert len({r.request_id for r in rows}) == 3
