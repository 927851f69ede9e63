"""Clients that go away, and the WebSocket front end, over a real ASGI server."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from websockets.asyncio.client import connect

from tests.fakes.server import Reply
from tests.helpers import api_token, seed_fake_endpoint
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a long story"}]}


@pytest.fixture
def token(settings, fake_openai, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.LIMIT_CONCURRENT_MESSAGES = False
    settings.LIMIT_MESSAGE_IP = False
    seed_fake_endpoint(fake_openai.base_url)
    return api_token()


async def _read_first_delta_then_leave(client: httpx2.AsyncClient, url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("POST", f"{url}/api/chat", json=BODY, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line == "event: delta":
                return  # leaving the block closes the connection mid-stream


async def _records(count: int, status: str, timeout: float = 10.0) -> list[UsageRecord]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = [r async for r in UsageRecord.objects.filter(status=status)]
        if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_it_stops_upstreams_and_records_usage_when_50_clients_leave(token, fake_openai, asgi_server):
    fake_openai.reply = Reply(text=["word "] * 400, delay=0.05)  # a 20-second answer
    limits = httpx2.Limits(max_connections=100)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(_read_first_delta_then_leave(client, asgi_server.url, token) for _ in range(50)))
    # The gateway closes every upstream request soon after its client left (the
    # answers would otherwise run for 20 s), and records each request exactly once.
    assert await fake_openai.await_for(lambda: fake_openai.disconnects >= 50, timeout=10)
    assert fake_openai.disconnects == 50
    rows = await _records(50, "client_aborted")
    assert len(rows) == 50
    assert await UsageRecord.objects.acount() == 50
    assert all(r.completion_tokens > 0 and r.estimated for r in rows)


async def test_it_chats_over_a_websocket(token, asgi_server):
    url = asgi_server.url.replace("http://", "ws://") + "/ws/chat/"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        await socket.send(json.dumps(BODY))
        events = []
        while not events or events[-1]["event"] not in ("final", "error"):
            events.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
    names = [e["event"] for e in events]
    assert names[0] == "created" and names[-1] == "final"
    assert events[-1]["data"]["text"] == "Hello, world!"
    assert events[-1]["data"]["usage"]["total_tokens"] == 19
    record = await UsageRecord.objects.aget()
    assert (record.via, record.status) == ("websocket", "ok")


async def test_it_reports_websocket_errors_as_events(token, asgi_server):
    url = asgi_server.url.replace("http://", "ws://") + "/ws/chat/"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        await socket.send(json.dumps({**BODY, "endpoint": "nope"}))
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        await socket.send("not json")
        broken = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert message["event"] == "error" and message["data"]["type"] == "endpoint_not_found"
    assert message["data"]["status"] == 404
    assert broken["event"] == "error" and broken["data"]["type"] == "invalid_request"


async def test_it_refuses_an_anonymous_websocket(asgi_server, transactional_db):
    url = asgi_server.url.replace("http://", "ws://") + "/ws/chat/"
    with pytest.raises(Exception) as info:
        async with connect(url) as socket:
            await socket.recv()
    assert "4401" in str(info.value) or "403" in str(info.value)
