"""Cooldowns shared by two server processes on Redis: a deployment that fails past its threshold
leaves the picks of both, one request of either probes it after the cooldown, and both send it
traffic once the probe answered.  Only on the PostgreSQL + Redis leg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx2
import pytest
from django.conf import settings
from django.db import connection

from tests.fakes import Reply
from tests.fakes.openai import FakeOpenAI
from tests.helpers import api_token, seed
from tests.processes import ServerProcess, serving

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql" or not settings.REDIS_URL,
                       reason="needs PostgreSQL and Redis: processes share health only through them"),
]  # fmt: skip

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
            routing: {{allowedFails: 2, cooldownSeconds: 3}}
            deployments:
              - {{name: a}}
              - {{name: b, apiKey: '${{POOL_KEY_B}}', baseURL: '{b}'}}
"""
BODY = {"endpoint": "pool", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "stream": False}


@pytest.fixture(scope="module")
def servers(django_db_setup: None) -> Iterator[list[ServerProcess]]:
    with serving(2, LIMIT_MESSAGE_IP="false", LIMIT_CONCURRENT_MESSAGES="false", POOL_KEY_B="test-key") as running:
        yield running


def chats(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


def test_a_failing_deployment_leaves_the_picks_of_both_processes_and_comes_back_after_one_probe(
    servers, fake_openai, fake_openai_b, quiet_database
):
    fake_openai.models = None
    seed(CONFIG.format(a=fake_openai.base_url, b=fake_openai_b.base_url))
    headers = {"Authorization": f"Bearer {api_token()}"}
    sent = 0

    def post() -> int:
        nonlocal sent
        sent += 1
        return httpx2.post(f"{servers[sent % 2].url}/api/chat", json=BODY, headers=headers, timeout=30).status_code

    fake_openai.reply = Reply(status=500)
    while chats(fake_openai) < 3 and sent < 200:  # the third failure, on either process, cools it down
        assert post() == 200
    assert chats(fake_openai) == 3
    deadline = time.monotonic() + 2
    for _ in range(6):  # both processes, well inside the cooldown
        if time.monotonic() < deadline:
            assert post() == 200
    assert chats(fake_openai) == 3

    time.sleep(3.1)

    async def burst() -> list[int]:
        async with httpx2.AsyncClient(timeout=30) as client:
            return list(await asyncio.gather(*(client.post(f"{servers[n % 2].url}/api/chat", json=BODY,
                                                           headers=headers) for n in range(8))))  # fmt: skip

    assert [r.status_code for r in asyncio.run(burst())] == [200] * 8
    assert chats(fake_openai) == 4  # one probe of all eight requests on both processes; it failed

    fake_openai.reply = Reply()
    time.sleep(3.1)
    assert post() == 200 and chats(fake_openai) == 5  # the probe answered
    for _ in range(20):
        assert post() == 200
    assert chats(fake_openai) > 5  # both processes send it traffic again
