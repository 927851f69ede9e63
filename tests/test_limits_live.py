"""Rate limits and concurrency caps through the real ASGI server, against the fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from websockets.asyncio.client import connect

from endpoints.limits import slots as limits
from endpoints.models import Endpoint
from tests.fakes import Fault, Reply, closed_port_url
from tests.helpers import make_user, seed
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{url}'
      {endpoint_limit}
      models:
        default: ['gpt-4o-mini', {{name: 'gpt-4o', {model_limit}}}]
"""
BODY = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


class Live:
    def __init__(self, url: str, fake_url: str) -> None:
        self.url = url
        self.fake_url = fake_url

    def configure(self, endpoint_limit: str = "", model_limit: str = "") -> None:
        seed(CONFIG.format(url=self.fake_url, endpoint_limit=f"rateLimit: {endpoint_limit}" if endpoint_limit else "",
                           model_limit=f"rateLimit: {model_limit}" if model_limit else "label: GPT-4o"))  # fmt: skip

    def token(self, username: str = "alice") -> str:
        from rest_framework.authtoken.models import Token

        return Token.objects.create(user=make_user(username)).key

    def post(self, token: str, body: dict[str, Any] | None = None, **headers: str) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json=body or BODY, timeout=20,
                           headers={"Authorization": f"Bearer {token}", **headers})  # fmt: skip

    async def apost(
        self, client: httpx2.AsyncClient, token: str, body: dict[str, Any] | None = None
    ) -> httpx2.Response:
        return await client.post(
            f"{self.url}/api/chat", json=body or BODY, headers={"Authorization": f"Bearer {token}"}
        )

    @asynccontextmanager
    async def open_stream(self, client: httpx2.AsyncClient, token: str) -> AsyncIterator[None]:
        """A chat read up to its first delta and held open; leaving the block disconnects."""
        headers = {"Authorization": f"Bearer {token}"}
        async with client.stream("POST", f"{self.url}/api/chat", json=BODY, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            lines = response.aiter_lines()  # kept: a collected line iterator would close the response
            async for line in lines:
                if line == "event: delta":
                    break
            yield


#: The limits count in fixed windows (their edges at multiples of the window); the windows these
#: tests use, and how far from an edge a test starts, so that its few requests fall in one window.
WINDOWS, EDGE_MARGIN = (45, 60, 120), 5.0


def away_from_window_edges() -> None:
    while any(window - time.time() % window < EDGE_MARGIN for window in WINDOWS):
        time.sleep(0.25)


@pytest.fixture
def live(settings, fake_openai, asgi_server) -> Live:
    away_from_window_edges()
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.TRUSTED_PROXIES = []
    settings.LIMIT_MESSAGE_IP, settings.MESSAGE_IP_MAX, settings.MESSAGE_IP_WINDOW = True, 40, 1
    settings.LIMIT_MESSAGE_USER = False
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 2
    server = Live(asgi_server.url, fake_openai.base_url)
    server.configure()
    return server


def recorded(count: int, timeout: float = 10.0) -> list[UsageRecord]:
    """The usage rows once ``count`` chats are recorded: a chat is recorded after its limits
    were settled (its slot released, its tokens counted), possibly after its answer was sent."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(UsageRecord.objects.exclude(status="pending").order_by("id"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def chats_sent(fake: Any) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


# --- 429 answers -----------------------------------------------------------------------------


def test_it_answers_429_with_retry_after_once_the_ip_limit_is_hit(live, settings, fake_openai):
    settings.MESSAGE_IP_MAX = 2
    token = live.token()
    assert [live.post(token).status_code for _ in range(2)] == [200, 200]
    response = live.post(token)  # a streaming request: refused with an HTTP status, not an event
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {k: v for k, v in body.items() if k != "message"} == {
        "type": "rate_limit_exceeded", "limit": 2, "window_seconds": 60, "scope": "ip", "unit": "requests",
    }  # fmt: skip
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert f"{response.headers['retry-after']} s" in body["message"]
    assert chats_sent(fake_openai) == 2
    (refused,) = [r for r in recorded(3) if r.error_type == "rate_limit_exceeded"]
    assert (refused.status, refused.endpoint, refused.model) == ("error", "fakeai", "gpt-4o")


def test_it_gives_nothing_for_a_forged_x_forwarded_for(live, settings):
    settings.MESSAGE_IP_MAX = 2
    token = live.token()
    answers = [live.post(token, **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(4)]
    assert answers == [200, 200, 429, 429]


def test_it_counts_the_client_a_trusted_proxy_saw(live, settings):
    settings.MESSAGE_IP_MAX = 2
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    token = live.token()
    # The client forges the first hop; our proxy appends the address it really saw.
    forged = [live.post(token, **{"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.9"}) for n in range(3)]
    assert [r.status_code for r in forged] == [200, 200, 429]
    assert live.post(token, **{"X-Forwarded-For": "203.0.113.10"}).status_code == 200


def test_it_limits_users_with_librechat_variables(live, settings):
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_MESSAGE_USER, settings.MESSAGE_USER_MAX, settings.MESSAGE_USER_WINDOW = True, 1, 2
    alice, bob = live.token(), live.token("bob")
    assert live.post(alice).status_code == 200
    response = live.post(alice)
    assert response.status_code == 429
    assert (response.json()["scope"], response.json()["window_seconds"]) == ("user", 120)
    assert live.post(bob).status_code == 200


# --- per-endpoint and per-model limits from yaml and admin -----------------------------------------


def test_it_limits_requests_per_endpoint_from_yaml(live, fake_openai):
    live.configure(endpoint_limit="{requests: 2, windowSeconds: 45}")
    token = live.token()
    mini = {**BODY, "model": "gpt-4o-mini"}
    assert [live.post(token).status_code, live.post(token, mini).status_code] == [200, 200]
    response = live.post(token, mini)
    assert response.status_code == 429
    body = response.json()
    assert (body["scope"], body["endpoint"], body["limit"], body["window_seconds"]) == ("endpoint", "fakeai", 2, 45)
    assert 1 <= int(response.headers["retry-after"]) <= 45
    assert chats_sent(fake_openai) == 2


def test_it_limits_requests_per_model_from_yaml(live):
    live.configure(model_limit="{requests: 1, windowSeconds: 60}")
    token = live.token()
    assert live.post(token).status_code == 200
    response = live.post(token)
    assert response.status_code == 429
    assert (response.json()["scope"], response.json()["model"]) == ("model", "gpt-4o")
    assert live.post(token, {**BODY, "model": "gpt-4o-mini"}).status_code == 200


def test_it_limits_tokens_per_window_from_recorded_usage(live):
    live.configure(endpoint_limit="{tokens: 30, windowSeconds: 60}")
    token = live.token()
    for n in range(2):  # 0, then 19 of 30 used
        assert live.post(token).status_code == 200
        recorded(n + 1)
    response = live.post(token)  # 38 used
    assert response.status_code == 429
    assert (response.json()["unit"], response.json()["limit"]) == ("tokens", 30)


def test_it_applies_a_limit_edited_in_admin_without_a_restart(live):
    token = live.token()
    assert live.post(token).status_code == 200
    endpoint = Endpoint.objects.get(name="fakeai")
    endpoint.rate_limit = {"requests": 1, "windowSeconds": 60}
    endpoint.save()
    assert live.post(token).status_code == 200
    assert live.post(token).json()["scope"] == "endpoint"


async def test_it_admits_exactly_the_limit_under_concurrency(live, settings, fake_openai):
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_CONCURRENT_MESSAGES = False
    await sync_to_async(live.configure)(endpoint_limit="{requests: 20, windowSeconds: 86400}")
    token = await sync_to_async(live.token)()
    async with httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=100)) as client:
        responses = await asyncio.gather(*(live.apost(client, token) for _ in range(100)))
    statuses = [r.status_code for r in responses]
    assert (statuses.count(200), statuses.count(429)) == (20, 80)
    assert chats_sent(fake_openai) == 20


# --- the cache is down -------------------------------------------------------------------------------


def test_it_fails_closed_when_the_limits_cache_is_down(live, settings, fake_openai):
    location = closed_port_url().replace("http://", "redis://") + "/0"
    settings.CACHES = {**settings.CACHES, "limits-down": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": location,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }}  # fmt: skip
    settings.RATELIMIT_USE_CACHE = "limits-down"
    token = live.token()
    response = live.post(token)
    assert response.status_code == 503
    body = response.json()
    assert body["type"] == "rate_limit_unavailable"
    assert "127.0.0.1" not in response.text and "redis" not in response.text.lower()
    assert chats_sent(fake_openai) == 0


# --- concurrency slots ------------------------------------------------------------------------------


async def test_it_caps_open_streams_and_frees_a_slot_when_a_client_leaves(live, settings, fake_openai):
    alice, bob = await sync_to_async(live.token)(), await sync_to_async(live.token)("bob")
    fake_openai.reply = Reply(fault=Fault.STALL, after=2)  # the answer starts, then hangs
    async with httpx2.AsyncClient(timeout=20) as first, httpx2.AsyncClient(timeout=20) as second:
        async with live.open_stream(second, alice):
            async with live.open_stream(first, alice):
                refused = await live.apost(first, alice)
                assert refused.status_code == 429
                assert {k: v for k, v in refused.json().items() if k != "message"} == {
                    "type": "concurrent_limit", "limit": 2,
                }  # fmt: skip
                fake_openai.reply = Reply()
                assert (await live.apost(first, bob)).status_code == 200  # a cap per user
            # The first client went away: its slot comes back (no wait for the lease to lapse).
            async with httpx2.AsyncClient(timeout=20) as third:
                assert await eventually(lambda: _status(live, third, alice, 200), timeout=10)
    rows = await sync_to_async(recorded)(1)
    assert any(r.status == "client_aborted" for r in rows)


async def _status(live: Live, client: httpx2.AsyncClient, token: str, status: int) -> bool:
    return (await live.apost(client, token)).status_code == status


@pytest.mark.parametrize(
    ("reply", "body", "status"),
    [
        (Reply(), {**BODY, "stream": False}, 200),
        (Reply(status=500), BODY, 502),
        (Reply(status=401), BODY, 401),
        (Reply(fault=Fault.RESET, after=3), BODY, 200),  # an error event mid-stream
        (Reply(), {**BODY, "model": "not-offered"}, 404),
        (Reply(), {"endpoint": "fakeai"}, 400),
    ],
)
def test_it_frees_the_slot_on_every_exit_path(live, settings, fake_openai, reply, body, status):
    settings.CONCURRENT_MESSAGE_MAX = 1
    token = live.token()
    fake_openai.reply = reply
    for n in range(3):
        assert live.post(token, body).status_code == status
        recorded(n + 1)
    fake_openai.reply = Reply()
    assert live.post(token).status_code == 200
    recorded(4)
    from rest_framework.authtoken.models import Token

    assert cache.get(limits.SLOT_KEY.format(Token.objects.get(key=token).user_id, 0)) is None


async def test_it_refuses_a_websocket_chat_with_an_error_event(live, settings):
    settings.MESSAGE_IP_MAX = 1
    token = await sync_to_async(live.token)()
    url = live.url.replace("http://", "ws://") + "/ws/chat/"
    finals = []
    for _ in range(2):  # a socket each: the address is what is counted
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
            await socket.send(json.dumps(BODY))
            while (message := json.loads(await socket.recv()))["event"] not in ("final", "error"):
                pass
            finals.append(message)
    assert finals[0]["event"] == "final"
    assert finals[1]["event"] == "error"
    assert (finals[1]["data"]["type"], finals[1]["data"]["status"], finals[1]["data"]["scope"]) == (
        "rate_limit_exceeded", 429, "ip",
    )  # fmt: skip
