"""Limits shared by several server processes: real uvicorn processes on the test database and the
same Redis, against one fake upstream.  Only on the PostgreSQL + Redis leg: SQLite and the
in-process cache cannot be shared between processes, by design."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django_ratelimit.core import _get_window
from rest_framework.authtoken.models import Token

from endpoints.limits import slots as limits
from tests.fakes import Fault, Reply
from tests.helpers import seed
from tests.processes import ServerProcess, serving

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="needs PostgreSQL and Redis (DATABASE_URL=postgres://… REDIS_URL=redis://…): server processes "
        "share limits only through them",
    ),
]

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{url}'
      rateLimit: {{requests: 20, windowSeconds: 86400}}
      models:
        default: ['gpt-4o']
"""
BODY = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
SLOTS = 3
LEASE_SECONDS = 6


ENV = {
    "LIMIT_MESSAGE_IP": "false",  # every client here is 127.0.0.1
    "LIMIT_MESSAGE_USER": "false",
    "LIMIT_CONCURRENT_MESSAGES": "true",
    "CONCURRENT_MESSAGE_MAX": str(SLOTS),
    "CONCURRENT_LEASE_SECONDS": str(LEASE_SECONDS),
    "UPSTREAM_IDLE_TIMEOUT": "60",
}


@pytest.fixture(scope="module")
def servers(django_db_setup: None) -> Iterator[list[ServerProcess]]:
    with serving(2, **ENV) as running:
        yield running


@pytest.fixture
def chat(servers, fake_openai, quiet_database) -> list[ServerProcess]:
    seed(CONFIG.format(url=fake_openai.base_url))
    return servers


def tokens(count: int) -> list[str]:
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"user{n}") for n in range(count)])
    return [t.key for t in Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])]


async def post(client: httpx2.AsyncClient, url: str, token: str) -> int:
    response = await client.post(f"{url}/api/chat", json={**BODY, "stream": False},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    return response.status_code


def chats_sent(fake: Any) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


# --- requests per window -----------------------------------------------------------------------


def test_it_admits_exactly_20_of_200_concurrent_requests_across_two_processes(chat, fake_openai):
    window = _get_window("fakeai", 86400)
    if window - time.time() < 120:  # so close to the window's end that the burst could straddle it
        time.sleep(window - time.time() + 1)
    keys = tokens(200)

    async def burst() -> list[int]:
        async with httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=200)) as client:
            return await asyncio.gather(*(post(client, chat[n % 2].url, key) for n, key in enumerate(keys)))

    statuses = asyncio.run(burst())
    assert (statuses.count(200), statuses.count(429)) == (20, 180)
    assert chats_sent(fake_openai) == 20


# --- concurrency slots ---------------------------------------------------------------------------


class Streams:
    """Chats opened at once through several servers, each held open after its first delta."""

    def __init__(self, urls: list[str], token: str) -> None:
        self.urls, self.token = urls, token
        self.release = asyncio.Event()

    async def one(self, client: httpx2.AsyncClient, url: str, known: asyncio.Future[int]) -> None:
        try:
            await self._one(client, url, known)
        except BaseException as exc:
            if not known.done():
                known.set_exception(exc)
            raise

    async def _one(self, client: httpx2.AsyncClient, url: str, known: asyncio.Future[int]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with client.stream("POST", f"{url}/api/chat", json=BODY, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                known.set_result(response.status_code)
                return
            lines = response.aiter_lines()
            async for line in lines:
                if line == "event: delta":
                    break
            known.set_result(200)
            await self.release.wait()  # leaving the block disconnects

    async def open(self, client: httpx2.AsyncClient, count: int) -> tuple[list[int], list[asyncio.Task[None]]]:
        loop = asyncio.get_running_loop()
        known = [loop.create_future() for _ in range(count)]
        tasks = [asyncio.ensure_future(self.one(client, self.urls[n % len(self.urls)], known[n])) for n in range(count)]
        return list(await asyncio.gather(*known)), tasks


async def _eventually_admitted(client: httpx2.AsyncClient, url: str, token: str, timeout: float) -> float:
    began = time.monotonic()
    while await post(client, url, token) != 200:
        assert time.monotonic() - began < timeout, "the slots never came back"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


def test_it_caps_open_streams_per_user_across_two_processes(chat, fake_openai):
    (key,) = tokens(1)
    fake_openai.reply = Reply(fault=Fault.STALL, after=2)  # answers start, then hang until we leave

    async def scenario() -> None:
        streams = Streams([server.url for server in chat], key)
        async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=50)) as client:
            statuses, tasks = await streams.open(client, 12)
            assert (statuses.count(200), statuses.count(429)) == (SLOTS, 12 - SLOTS)
            assert [await post(client, server.url, key) for server in chat] == [429, 429]
            fake_openai.reply = Reply()
            streams.release.set()  # every client leaves: both processes release their slots
            await asyncio.gather(*tasks)
            for server in chat:
                await _eventually_admitted(client, server.url, key, timeout=10)

    asyncio.run(scenario())
    assert fake_openai.peak_active <= SLOTS


def test_it_recovers_the_slots_of_a_killed_process_when_their_leases_lapse(chat, fake_openai):
    (key,) = tokens(1)
    user_id = Token.objects.get(key=key).user_id
    fake_openai.reply = Reply(fault=Fault.STALL, after=2)
    with serving(1, **ENV) as (victim,):

        async def scenario() -> None:
            streams = Streams([victim.url], key)
            async with httpx2.AsyncClient(timeout=30) as client:
                statuses, tasks = await streams.open(client, SLOTS)
                assert statuses == [200] * SLOTS
                victim.kill()  # mid-stream: nothing is settled, the leases stay until they lapse
                held = cache.get_many([limits.SLOT_KEY.format(user_id, n) for n in range(SLOTS)])
                assert len(held) == SLOTS
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                fake_openai.reply = Reply()
                await _eventually_admitted(client, chat[1].url, key, timeout=LEASE_SECONDS * 5)

        asyncio.run(scenario())
