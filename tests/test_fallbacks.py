"""Model fallbacks over the real ASGI server: each trigger against the fake upstreams, never after
the first token, the ``fallback`` event, the usage record, and ``/api/models/details``."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import pytest

from tests.fakes import Fault, Reply
from tests.helpers import make_user, seed, token_client
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      fallbacks: ['claude/claude-3-5-haiku-latest']
      models:
        default: ['gpt-4o', {{name: 'flaky', fallbacks: ['claude/claude-sonnet-4-5', 'backup/gpt-4o-mini']}}]
    - name: claude
      provider: anthropic
      apiKey: test-key
      baseURL: '{anthropic}'
      {claude_limit}
      models:
        default: [{{name: 'claude-sonnet-4-5', {sonnet_limit}}}, 'claude-3-5-haiku-latest']
    - name: backup
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o-mini']
    - name: dead
      apiKey: test-key
      baseURL: '{refused}'
      fallbacks: ['claude/claude-sonnet-4-5']
      models:
        default: ['gpt-4o']
"""
FLAKY = {"endpoint": "fakeai", "model": "flaky", "messages": [{"role": "user", "content": "Hi"}]}
TO_SONNET = {
    "from": {"endpoint": "fakeai", "model": "flaky"},
    "to": {"endpoint": "claude", "model": "claude-sonnet-4-5"},
}


class Live:
    def __init__(self, url: str, token: str, urls: dict[str, str]) -> None:
        self.url, self.token, self.urls = url, token, urls

    def configure(self, claude_limit: str = "", sonnet_limit: str = "") -> None:
        seed(CONFIG.format(**self.urls, claude_limit=f"rateLimit: {claude_limit}" if claude_limit else "",
                           sonnet_limit=f"rateLimit: {sonnet_limit}" if sonnet_limit else "label: Sonnet"))  # fmt: skip

    def post(self, body: dict[str, Any]) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json=body, headers={"Authorization": f"Bearer {self.token}"},
                           timeout=20)  # fmt: skip

    def events(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        response = self.post(body)
        assert response.status_code == 200, response.text
        events = []
        for block in response.text.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
        return events


@pytest.fixture
def live(settings, fake_openai, fake_anthropic, refused_url, asgi_server) -> Live:
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.LIMIT_MESSAGE_IP = False
    fake_openai.models = None  # the fakes answer any model id: each test scripts its failure
    fake_anthropic.models = None
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user()).key
    urls = {"openai": fake_openai.base_url, "anthropic": fake_anthropic.base_url, "refused": refused_url}
    server = Live(asgi_server.url, token, urls)
    server.configure()
    return server


def recorded() -> UsageRecord:
    """The request's usage row, once written (it may be written after the answer was sent)."""
    deadline = time.monotonic() + 10
    while (row := UsageRecord.objects.get()).status == "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    return row


def named(events: list[tuple[str, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    return [data for event, data in events if event == name]


# --- each trigger -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=404), "model_not_available"),
        (Reply(status=500), "upstream_error"),
        (Reply(status=503), "upstream_error"),
        (Reply(status=429, retry_after="3"), "upstream_rate_limited"),
        (Reply(fault=Fault.NO_FIRST_BYTE), "upstream_timeout"),  # no first byte in time
        (Reply(fault=Fault.STALL, after=1), "upstream_timeout"),  # the role frame, then silence
        (Reply(fault=Fault.RESET, after=0), "upstream_error"),  # the connection drops at once
        (Reply(fault=Fault.ERROR_EVENT, after=1), "upstream_error"),  # an error event before any token
    ],
)
def test_it_falls_back_when_the_model_fails_before_its_first_token(live, settings, fake_openai, fake_anthropic,
                                                                    reply, reason):  # fmt: skip
    settings.UPSTREAM_FIRST_TOKEN_TIMEOUT = settings.UPSTREAM_IDLE_TIMEOUT = 0.5
    fake_openai.reply = reply
    events = live.events(FLAKY)
    assert [name for name, _ in events[:2]] == ["created", "fallback"]
    assert events[0][1]["endpoint"] == "fakeai" and events[0][1]["model"] == "flaky"  # what was asked
    assert events[1][1] == {**TO_SONNET, "reason": reason}
    final = events[-1]
    assert final[0] == "final" and (final[1]["endpoint"], final[1]["model"]) == ("claude", "claude-sonnet-4-5")
    assert final[1]["text"] == "Hello, world!"
    assert fake_anthropic.last.json["model"] == "claude-sonnet-4-5"
    record = recorded()
    assert (record.endpoint, record.model) == ("fakeai", "flaky")
    assert (record.answered_endpoint, record.answered_model, record.status) == ("claude", "claude-sonnet-4-5", "ok")
    assert (record.prompt_tokens, record.completion_tokens) == (12, 7)


def test_it_falls_back_when_the_connection_is_refused(live, fake_anthropic):
    events = live.events({**FLAKY, "endpoint": "dead", "model": "gpt-4o"})  # the endpoint's default list
    assert named(events, "fallback") == [
        {
            "from": {"endpoint": "dead", "model": "gpt-4o"},
            "to": {"endpoint": "claude", "model": "claude-sonnet-4-5"},
            "reason": "upstream_error",
        }
    ]
    assert named(events, "final")[0]["endpoint"] == "claude"


def test_it_falls_back_when_the_endpoint_does_not_offer_the_model(live, fake_openai, fake_anthropic):
    events = live.events({**FLAKY, "model": "gpt-9-unlisted"})
    assert named(events, "fallback")[0]["reason"] == "model_not_available"
    assert named(events, "fallback")[0]["to"] == {"endpoint": "claude", "model": "claude-3-5-haiku-latest"}
    assert fake_openai.requests == []  # known to be missing: never asked upstream


def test_it_tries_the_next_fallback_when_one_fails(live, fake_openai, fake_anthropic):
    fake_openai.script(Reply(status=503))  # flaky fails; then backup (the same fake) answers
    fake_anthropic.reply = Reply(status=429)
    events = live.events(FLAKY)
    assert named(events, "fallback") == [
        {**TO_SONNET, "reason": "upstream_error"},
        {
            "from": {"endpoint": "claude", "model": "claude-sonnet-4-5"},
            "to": {"endpoint": "backup", "model": "gpt-4o-mini"},
            "reason": "upstream_rate_limited",  # why this hop failed, not the first one
        },
    ]
    final = named(events, "final")[0]
    assert (final["endpoint"], final["model"]) == ("backup", "gpt-4o-mini")
    record = recorded()
    assert (record.model, record.answered_endpoint, record.answered_model) == ("flaky", "backup", "gpt-4o-mini")


def test_it_answers_the_requested_models_error_when_every_fallback_fails(live, fake_openai, fake_anthropic):
    fake_openai.reply = Reply(status=503)
    fake_anthropic.reply = Reply(status=429, retry_after="9")
    response = live.post(FLAKY)
    assert response.status_code == 502
    assert (response.json()["type"], response.json()["endpoint"]) == ("upstream_error", "fakeai")
    assert "retry-after" not in response.headers  # the fallback's 429 is not the answer
    assert len(fake_anthropic.requests) == 1 and len(fake_openai.requests) == 2
    assert recorded().status == "error"


def test_it_answers_json_from_the_fallback_when_not_streaming(live, fake_openai):
    fake_openai.reply = Reply(status=500)
    response = live.post({**FLAKY, "stream": False})
    assert response.status_code == 200
    assert (response.json()["endpoint"], response.json()["model"]) == ("claude", "claude-sonnet-4-5")


# --- when not to fall back -----------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "status"), [(Reply(status=401), 401), (Reply(status=400), 400)])
def test_it_does_not_fall_back_when_the_request_or_key_is_wrong(live, fake_openai, fake_anthropic, reply, status):
    fake_openai.reply = reply
    assert live.post(FLAKY).status_code == status
    assert fake_anthropic.requests == []


@pytest.mark.parametrize("fault", [Fault.RESET, Fault.MALFORMED, Fault.ERROR_EVENT, Fault.STALL])
def test_it_never_falls_back_after_the_first_token(live, settings, fake_openai, fake_anthropic, fault):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.5
    fake_openai.reply = Reply(fault=fault, after=3)  # role, "Hello", ", world", then the fault
    events = live.events(FLAKY)
    assert "fallback" not in [name for name, _ in events]
    assert named(events, "delta")[0]["text"] == "Hello"
    assert events[-1][0] == "error"
    assert fake_anthropic.requests == []
    record = recorded()
    assert (record.status, record.answered_endpoint) == ("error", "fakeai")


# --- limits of the fallback target ---------------------------------------------------------------


def test_it_holds_a_fallback_to_the_limits_of_its_target(live, fake_openai, fake_anthropic):
    live.configure(sonnet_limit="{requests: 1, windowSeconds: 60}")
    fake_openai.script(Reply(status=503), Reply(status=503))  # flaky fails twice; backup then answers
    assert named(live.events(FLAKY), "final")[0]["endpoint"] == "claude"
    events = live.events(FLAKY)
    assert [f["reason"] for f in named(events, "fallback")] == ["upstream_error", "rate_limit_exceeded"]
    assert named(events, "final")[0]["endpoint"] == "backup"
    assert len(fake_anthropic.requests) == 1


def test_it_counts_tokens_where_the_fallback_answered(live, fake_openai):
    live.configure(claude_limit="{tokens: 19, windowSeconds: 60}")
    fake_openai.reply = Reply(status=500)
    assert named(live.events(FLAKY), "final")[0]["endpoint"] == "claude"  # 12 + 7 tokens at claude
    recorded()
    response = live.post({**FLAKY, "endpoint": "claude", "model": "claude-sonnet-4-5"})
    assert response.status_code == 429
    assert (response.json()["scope"], response.json()["unit"]) == ("endpoint", "tokens")


# --- spending of the fallback target (issue 13, point 9) ----------------------------------------------


def test_it_holds_a_fallback_to_the_spending_limits_of_its_endpoint(live, fake_openai, fake_anthropic):
    from decimal import Decimal

    from usage.models import Period, Reservation, SpendingLimit

    SpendingLimit.objects.create(endpoint="claude", period=Period.DAY, amount_usd=Decimal("0.000001"), shared=True)
    fake_openai.script(Reply(status=503))  # flaky fails; backup answers after claude is refused
    events = live.events(FLAKY)
    assert [f["reason"] for f in named(events, "fallback")] == ["upstream_error", "budget_exceeded"]
    assert named(events, "final")[0]["endpoint"] == "backup"
    assert not fake_anthropic.requests  # the refused target was never asked
    recorded()
    assert not Reservation.objects.exists()


def test_it_charges_each_target_only_for_what_it_answered(live, fake_openai):
    from decimal import Decimal

    from usage.models import Period, SpendingLimit, SpendingWindow

    limits = {name: SpendingLimit.objects.create(endpoint=name, period=Period.DAY, amount_usd=Decimal(10), shared=True)
              for name in ("fakeai", "claude")}  # fmt: skip
    fake_openai.reply = Reply(status=500)
    assert named(live.events(FLAKY), "final")[0]["endpoint"] == "claude"
    record = recorded()
    deadline = time.monotonic() + 5
    while SpendingWindow.objects.filter(reserved_usd__gt=0).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    spent = {w.limit_id: w for w in SpendingWindow.objects.all()}
    assert spent[limits["fakeai"].pk].spent_usd == 0  # it failed: nothing to pay for there
    assert spent[limits["claude"].pk].spent_usd == record.cost_usd > 0
    assert all(w.reserved_usd == 0 for w in spent.values())


# --- shown to clients ------------------------------------------------------------------------------


def test_it_shows_fallbacks_in_model_details(live):
    from django.contrib.auth import get_user_model

    client = token_client(get_user_model().objects.get())
    details = client.get("/api/models/details").json()
    fallbacks = {(name, m["id"]): m["fallbacks"] for name, models in details.items() for m in models}
    assert fallbacks[("fakeai", "flaky")] == ["claude/claude-sonnet-4-5", "backup/gpt-4o-mini"]
    assert fallbacks[("fakeai", "gpt-4o")] == ["claude/claude-3-5-haiku-latest"]  # the endpoint's default
    assert fallbacks[("claude", "claude-sonnet-4-5")] == []
