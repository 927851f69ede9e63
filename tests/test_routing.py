"""Health-aware routing over the real ASGI server and two fake OpenAI upstreams (deployments ``a``
and ``b`` of one model): cooldowns and their half-open probe, the strategies, ``cooling_down``
fallbacks, a wrong key, per-deployment rate limits, and the usage rows naming the deployment."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx2
import pytest

from tests.fakes import Fault, Reply
from tests.fakes.openai import FakeOpenAI
from tests.helpers import api_token, seed
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: pool
      apiKey: test-key
      baseURL: '{a}'
      models:
        default:
          - name: gpt-4o
            routing: {routing}
            deployments:
              - {{name: a, weight: {weight_a}}}
              - {{name: b, apiKey: '${{POOL_KEY_B}}', baseURL: '{b}', weight: {weight_b}}}
          - name: solo
            routing: {{allowedFails: 0, cooldownSeconds: 60}}
            fallbacks: ['backup/gpt-4o-mini']
          - name: lonely
            routing: {{allowedFails: 0, cooldownSeconds: 60}}
    - name: backup
      apiKey: test-key
      baseURL: '{b}'
      models:
        default: ['gpt-4o-mini']
"""
BODY = {"endpoint": "pool", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


class Pool:
    def __init__(self, url: str, token: str, a: FakeOpenAI, b: FakeOpenAI) -> None:
        self.url, self.token, self.a, self.b = url, token, a, b

    def configure(self, routing: str = "{allowedFails: 2, cooldownSeconds: 1}", weight_a: int = 1,
                  weight_b: int = 1) -> None:  # fmt: skip
        seed(CONFIG.format(a=self.a.base_url, b=self.b.base_url, routing=routing, weight_a=weight_a,
                           weight_b=weight_b))  # fmt: skip

    def post(self, body: dict[str, Any] | None = None, **extra: Any) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json={**(body or BODY), "stream": False, **extra},
                           headers={"Authorization": f"Bearer {self.token}"}, timeout=20)  # fmt: skip

    def events(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        response = httpx2.post(f"{self.url}/api/chat", json=body, headers={"Authorization": f"Bearer {self.token}"},
                               timeout=20)  # fmt: skip
        assert response.status_code == 200, response.text
        found = []
        for block in response.text.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            found.append((lines["event"], json.loads(lines["data"])))
        return found

    async def burst(self, count: int, concurrency: int = 16, **extra: Any) -> list[int]:
        limit = asyncio.Semaphore(concurrency)
        async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=concurrency)) as client:

            async def one() -> int:
                async with limit:
                    response = await client.post(f"{self.url}/api/chat", json={**BODY, "stream": False, **extra},
                                                 headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
                    return response.status_code

            return list(await asyncio.gather(*(one() for _ in range(count))))


def chats(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


def settled(count: int) -> list[UsageRecord]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = list(UsageRecord.objects.exclude(status="pending"))
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"only {UsageRecord.objects.exclude(status='pending').count()} of {count} rows settled")


@pytest.fixture
def pool(settings, fake_openai, fake_openai_b, asgi_server) -> Pool:
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.ENVIRON = {"POOL_KEY_B": "test-key"}
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_CONCURRENT_MESSAGES = False
    fake_openai.models = None
    server = Pool(asgi_server.url, api_token(), fake_openai, fake_openai_b)
    server.configure()
    return server


# --- cooldowns -----------------------------------------------------------------------------------


def while_cooling(seconds: float, most: int, send: Any) -> int:
    """Send up to ``most`` requests within ``seconds`` (well inside a cooldown, however slow the machine)."""
    deadline, sent = time.monotonic() + seconds, 0
    while sent < most and time.monotonic() < deadline:
        assert send().status_code == 200
        sent += 1
    return sent


def test_it_stops_sending_to_a_failing_deployment_probes_it_once_then_takes_it_back(pool):
    pool.configure(routing="{allowedFails: 2, cooldownSeconds: 3}")
    pool.a.reply = Reply(status=500)
    sent = 0
    while chats(pool.a) < 3 and sent < 200:  # allowedFails: 2, so the third failure cools it down
        response = pool.post()
        assert response.status_code == 200, response.text  # b answered every time
        sent += 1
    assert chats(pool.a) == 3
    sent += while_cooling(2, 10, pool.post)
    assert chats(pool.a) == 3  # out of every pick while cooling down

    time.sleep(3.1)  # the cooldown ends: half-open
    statuses = asyncio.run(pool.burst(8, concurrency=8))
    assert statuses == [200] * 8
    assert chats(pool.a) == 4  # exactly one probe, which failed: cooling down again
    sent += 8 + while_cooling(2, 3, pool.post)
    assert chats(pool.a) == 4

    pool.a.reply = Reply()
    time.sleep(3.1)
    before = chats(pool.b)
    response = pool.post()
    assert response.status_code == 200 and chats(pool.a) == 5 and chats(pool.b) == before  # the probe answered
    for _ in range(20):
        assert pool.post().status_code == 200
    assert chats(pool.a) > 5  # full traffic again
    rows = settled(sent + 1 + 20)
    assert {row.answered_deployment for row in rows} == {"a", "b"}


def test_it_goes_straight_to_the_fallback_while_every_deployment_cools_down(pool):
    pool.a.reply = Reply(status=503)
    first = pool.events({**BODY, "model": "solo"})
    assert [data["reason"] for name, data in first if name == "fallback"] == ["upstream_error"]
    assert chats(pool.a) == 1
    for _ in range(5):
        events = pool.events({**BODY, "model": "solo"})
        fallback = [data for name, data in events if name == "fallback"]
        assert fallback == [{"from": {"endpoint": "pool", "model": "solo"},
                             "to": {"endpoint": "backup", "model": "gpt-4o-mini"}, "reason": "cooling_down"}]  # fmt: skip
        final = events[-1]
        assert final[0] == "final" and (final[1]["endpoint"], final[1]["model"]) == ("backup", "gpt-4o-mini")
    assert chats(pool.a) == 1  # zero requests reached it while it cooled down


def test_it_answers_at_once_with_retry_after_when_a_cooling_model_has_no_fallback(pool):
    pool.a.reply = Reply(status=500)
    assert pool.post(model="lonely").status_code == 502
    response = pool.post(model="lonely")
    assert response.status_code == 502 and chats(pool.a) == 1
    assert response.json()["type"] == "upstream_error" and "cooling down" in response.json()["message"]
    assert 50 <= int(response.headers["retry-after"]) <= 60


def test_it_cools_a_rate_limited_deployment_down_for_its_retry_after(pool):
    pool.configure(routing="{allowedFails: 5, cooldownSeconds: 1}")
    pool.a.reply = Reply(status=429, retry_after="120")
    while chats(pool.a) < 1:
        assert pool.post().status_code == 200
    for _ in range(10):
        assert pool.post().status_code == 200
    assert chats(pool.a) == 1  # one 429 with Retry-After is enough, for longer than cooldownSeconds


def test_it_cools_a_deployment_with_a_wrong_key_down_loudly(pool, settings, caplog):
    settings.ENVIRON = {"POOL_KEY_B": "wrong-key"}
    with caplog.at_level(logging.ERROR, logger="endpoints.routing.router"):
        for _ in range(20):
            assert pool.post().status_code == 200  # a answers when b is refused
    assert chats(pool.b) == 1  # the first 401 took it out at once
    assert any("rejected its API key" in r.getMessage() and "pool/gpt-4o/b" in r.getMessage() for r in caplog.records)


def test_it_keeps_sending_to_a_failing_deployment_without_cooldowns(pool):
    pool.configure(routing="{cooldowns: false}", weight_a=1, weight_b=1)
    pool.a.reply = Reply(status=500)
    for _ in range(30):
        assert pool.post().status_code == 200
    assert chats(pool.a) > 5


# --- strategies ----------------------------------------------------------------------------------


def test_it_spreads_1000_requests_by_weight_within_5_percent(pool):
    pool.configure(weight_a=1, weight_b=3)
    statuses = asyncio.run(pool.burst(1000, concurrency=4))
    assert statuses == [200] * 1000
    share = chats(pool.a) / 1000
    assert 0.20 <= share <= 0.30, share  # weight 1 of 4: 25 %
    rows = settled(1000)
    assert sum(row.answered_deployment == "a" for row in rows) == chats(pool.a)
    assert sum(row.answered_deployment == "b" for row in rows) == chats(pool.b)


def test_least_busy_sends_a_new_chat_to_the_idle_deployment(pool, settings):
    settings.UPSTREAM_IDLE_TIMEOUT = 30
    pool.configure(routing="{strategy: least-busy}")
    pool.a.reply = pool.b.reply = Reply(fault=Fault.STALL, after=2)  # the role frame and one delta, then silence

    async def scenario() -> tuple[FakeOpenAI, FakeOpenAI]:
        headers = {"Authorization": f"Bearer {pool.token}"}
        async with httpx2.AsyncClient(timeout=30) as holder, httpx2.AsyncClient(timeout=30) as client:
            async with holder.stream("POST", f"{pool.url}/api/chat", json=BODY, headers=headers) as held:
                lines = held.aiter_lines()  # kept: a finalized iterator closes the response
                async for line in lines:
                    if line.startswith("event: delta"):
                        break
                busy, idle = (pool.a, pool.b) if chats(pool.a) else (pool.b, pool.a)
                busy.reply = idle.reply = Reply()
                for _ in range(6):
                    response = await client.post(f"{pool.url}/api/chat", json={**BODY, "stream": False},
                                                 headers=headers)  # fmt: skip
                    assert response.status_code == 200
                await lines.aclose()
                return busy, idle

    busy, idle = asyncio.run(scenario())
    assert (chats(busy), chats(idle)) == (1, 6)


def test_lowest_latency_prefers_the_faster_fake(pool):
    pool.configure(routing="{strategy: lowest-latency}")
    pool.a.reply = Reply(delay=0.2)  # every frame 200 ms late
    for _ in range(12):
        events = pool.events(BODY)
        assert events[-1][0] == "final"
    assert (chats(pool.a), chats(pool.b)) == (1, 11)  # measured once (unknown goes first), then never picked


# --- per-deployment limits -----------------------------------------------------------------------


def test_a_deployments_rate_limit_sends_the_rest_to_the_others(pool, fake_openai_b):
    config = CONFIG.replace("{{name: a, weight: {weight_a}}}",
                            "{{name: a, weight: {weight_a}, rateLimit: {{requests: 2, windowSeconds: 3600}}}}")  # fmt: skip
    seed(config.format(a=pool.a.base_url, b=pool.b.base_url, routing="{}", weight_a=100, weight_b=1))
    for _ in range(10):
        assert pool.post().status_code == 200
    assert chats(pool.a) == 2 and chats(pool.b) == 8
