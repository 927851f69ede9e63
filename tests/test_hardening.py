"""Hostile clients (issue 13): requests refused early and clearly, before they cost anything.

Each test here failed on the main of the issue: an anonymous upload read whole before the 401,
a NUL byte recorded after the upstream answered, 500s on nested JSON and binary frames, and the
channels routes answering any ``Host``.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx2
import pytest
from websockets.sync.client import connect

from tests.helpers import api_token, recorded, seed_fake_endpoint
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi"}]
BODY = {"endpoint": "fakeai", "model": "gpt-4o", "messages": HELLO}


@pytest.fixture
def server(settings, fake_openai, asgi_server):
    seed_fake_endpoint(fake_openai.base_url)
    return asgi_server


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def raw_request(url: str, head: str, body_start: bytes, *, wait: float = 5.0) -> bytes:
    """Send the head and the start of a body, send no more, and read what the server answers."""
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=wait) as sock:
        sock.sendall(head.encode() + b"\r\n" + body_start)
        sock.settimeout(wait)
        received = b""
        deadline = time.monotonic() + wait
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
        return received


def head(path: str, length: str | None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n"


# --- 5: bodies are bounded, and nobody's body is read before they are known ------------------------------


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_it_refuses_an_anonymous_upload_before_reading_its_body(server, path):
    answer = raw_request(server.url, head(path, str(200 * 1024 * 1024)), b"{" + b" " * 1024)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_it_refuses_a_declared_body_over_the_cap_at_once(server, settings, path):
    settings.REQUEST_MAX_BYTES = 64 * 1024
    answer = raw_request(server.url, head(path, str(65 * 1024), api_token()), b"{")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"REQUEST_MAX_BYTES" in answer


def test_it_refuses_a_chunked_body_once_it_passes_the_cap(server, settings):
    settings.REQUEST_MAX_BYTES = 64 * 1024
    chunk = b"x" * 16384
    frames = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))  # 80 KiB, never finished
    answer = raw_request(server.url, head("/api/chat", None, api_token()), frames)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_it_caps_a_websocket_message_the_same_way(server, settings):
    settings.REQUEST_MAX_BYTES = 64 * 1024
    url = server.url.replace("http://", "ws://") + "/ws/chat/"
    with connect(url, additional_headers={"Authorization": f"Bearer {api_token()}"}) as ws:
        ws.send(json.dumps({**BODY, "padding": "x" * 70_000}))
        message = json.loads(ws.recv(timeout=10))
    assert (message["event"], message["data"]["status"]) == ("error", 413)


# --- 6 and 7: malformed input is a 400 that names what was wrong -------------------------------------------


@pytest.mark.parametrize("field", ["endpoint", "model", "conversationId"])
def test_it_refuses_a_nul_byte_in_a_name_before_going_upstream(server, fake_openai, field):
    body = {**BODY, field: BODY.get(field, "conv") + "\x00x"}
    response = httpx2.post(f"{server.url}/api/chat", json=body, headers={"Authorization": f"Bearer {api_token()}"})
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"]
    assert not fake_openai.requests, "the upstream was asked anyway"
    record = recorded()
    assert (record.status, record.error_type) == ("error", "invalid_request")


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", '{"endpoint": "fakeai", "model": "gpt-4o", "messages": [], "x": %s}'),
        ("/v1/chat/completions", '{"model": "fakeai/gpt-4o", "messages": [], "x": %s}'),
    ],
)
def test_it_refuses_json_nested_too_deeply(server, path, body):
    response = httpx2.post(f"{server.url}{path}", content=body.replace("%s", _deep(100_000)),
                           headers={"Authorization": f"Bearer {api_token()}"})  # fmt: skip
    assert response.status_code == 400, response.text
    text = response.text
    assert "nested too deeply" in text


def test_it_refuses_deep_json_and_binary_frames_on_the_websocket(server):
    url = server.url.replace("http://", "ws://") + "/ws/chat/"
    with connect(url, additional_headers={"Authorization": f"Bearer {api_token()}"}) as ws:
        ws.send('{"x": ' + _deep(100_000) + "}")
        deep = json.loads(ws.recv(timeout=10))
        ws.send(b"\x00\x01binary")
        binary = json.loads(ws.recv(timeout=10))
        ws.send(json.dumps(BODY))  # the socket still serves an ordinary chat
        while (last := json.loads(ws.recv(timeout=10)))["event"] not in ("final", "error"):
            pass
    assert (deep["event"], deep["data"]["status"]) == ("error", 400) and "nested too deeply" in deep["data"]["message"]
    assert (binary["event"], binary["data"]["status"]) == ("error", 400) and "binary" in binary["data"]["message"]
    assert last["event"] == "final"


def test_it_refuses_a_tool_choice_without_a_function_name_on_the_gateway(server):
    body = {"model": "fakeai/gpt-4o", "messages": HELLO, "tool_choice": {"type": "function", "function": "x"}}
    response = httpx2.post(f"{server.url}/v1/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {api_token()}"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "tool_choice"


# --- 8: ALLOWED_HOSTS holds on the channels routes ---------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/chat", BODY), ("GET", "/v1/models", None), ("POST", "/v1/chat/completions", BODY)])  # fmt: skip
def test_it_refuses_a_host_not_allowed_on_the_channels_routes(server, settings, method, path, body: Any):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    headers = {"Authorization": f"Bearer {api_token()}", "Host": "evil.example"}
    response = httpx2.request(method, f"{server.url}{path}", json=body, headers=headers)
    assert response.status_code == 400 and "ALLOWED_HOSTS" in response.json()["message"]
    assert httpx2.get(f"{server.url}/v1/models", headers={"Authorization": headers["Authorization"]}).status_code == 200


def test_it_refuses_a_websocket_for_a_host_not_allowed(server, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    token = api_token()

    def handshake(host: str) -> bytes:
        lines = ["GET /ws/chat/ HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
                 f"Authorization: Bearer {token}"]  # fmt: skip
        return raw_request(server.url, "\r\n".join(lines) + "\r\n", b"", wait=3)

    assert handshake("127.0.0.1").startswith(b"HTTP/1.1 101")
    assert handshake("evil.example").startswith(b"HTTP/1.1 403")


# --- 1 and 2: secrets never leave -----------------------------------------------------------------------


def _debug_page(request: Any) -> str:
    """Django's debug 500 page for a bug raised here (no canary among this frame's locals)."""
    import sys

    from django.views.debug import technical_500_response

    try:
        raise ValueError("a bug of ours")
    except ValueError:
        return technical_500_response(request, *sys.exc_info()).content.decode()


def test_it_shows_no_secret_on_the_debug_page(settings, rf):
    from librechat_site.settings import Environment

    canaries = ["canary-secret-key-0123456789", "canary-creds-key", "canary-openai-key", "canary-db-pass",
                "canary-redis-pass", "canary-cache-pass"]  # fmt: skip
    settings.DEBUG = True
    settings.SECRET_KEY = canaries[0]
    settings.CREDS_KEYS = [canaries[1]]
    settings.REDIS_URL = f"redis://:{canaries[4]}@127.0.0.1:6379/0"
    settings.CACHES = {**settings.CACHES, "spare": {"BACKEND": "django_redis.cache.RedisCache",
                                                      "LOCATION": f"redis://:{canaries[5]}@127.0.0.1:6379/1"}}  # fmt: skip
    settings.ENVIRON = Environment({"CREDS_KEY": canaries[1], "OPENAI_API_KEY": canaries[2],
                                    "DATABASE_URL": f"postgres://app:{canaries[3]}@db/app"})  # fmt: skip
    page = _debug_page(rf.get("/api/usage?to=9999-12-31"))
    assert "a bug of ours" in page and "SECRET_KEY" in page  # it is the debug page, settings listed
    leaked = [canary for canary in canaries if canary in page]
    assert not leaked, f"the debug page shows {leaked}"


def test_it_never_resolves_the_services_own_variables(server, settings, fake_openai):
    from tests.helpers import seed

    settings.ENVIRON = {"CREDS_KEY": "canary-creds-key", "SECRET_KEY": "canary-secret", "TEAM": "research"}
    seed(f"""
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{fake_openai.base_url}'
      headers: {{X-Creds: '${{CREDS_KEY}}', X-Secret: 'k=${{SECRET_KEY}}', X-Team: '${{TEAM}}'}}
      models: {{default: ['gpt-4o']}}
    - name: leaky
      apiKey: '${{SECRET_KEY}}'
      baseURL: '{fake_openai.base_url}'
      models: {{default: ['gpt-4o']}}
""")
    token = api_token()
    response = httpx2.post(f"{server.url}/api/chat", json={**BODY, "stream": False},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200, response.text
    sent = fake_openai.last.headers
    assert (sent["x-creds"], sent["x-secret"], sent["x-team"]) == ("${CREDS_KEY}", "k=${SECRET_KEY}", "research")
    response = httpx2.post(f"{server.url}/api/chat", json={**BODY, "endpoint": "leaky", "stream": False},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 502 and "never sends upstream" in response.json()["message"]
    assert all("canary" not in str(r.headers) for r in fake_openai.requests)


# --- 14: metrics are for operators, and clients cannot add series ---------------------------------------


def test_it_labels_metrics_with_configured_names_only(server):
    from core.metrics import render

    token = api_token()
    for n in range(20):
        body = {**BODY, "endpoint": f"nope-{n}", "stream": False}
        httpx2.post(f"{server.url}/api/chat", json=body, headers={"Authorization": f"Bearer {token}"})
    text = render().decode()
    assert "nope-" not in text
    assert 'endpoint="other"' in text


def test_it_keeps_metrics_from_strangers(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics").status_code == 200  # this machine (the test client is 127.0.0.1)
    settings.METRICS_TOKEN = "m3trics"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer m3trics")
    assert response.status_code == 200 and b"chat_requests" in response.content


# --- 15: a disabled model is refused, even where the upstream lists it -------------------------------------


def test_it_refuses_a_disabled_model_of_an_endpoint_that_fetches_its_list(server, fake_openai):
    from endpoints.models import EndpointModel
    from tests.helpers import seed

    fake_openai.models = ["gpt-4o", "gpt-4o-mini"]
    seed(f"""
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{fake_openai.base_url}'
      models: {{default: ['gpt-4o', 'gpt-4o-mini'], fetch: true}}
""")
    EndpointModel.objects.filter(model_id="gpt-4o-mini").update(enabled=False)
    from endpoints.catalog.snapshot import bump_version

    bump_version()
    token = api_token()
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx2.post(f"{server.url}/api/chat", json={**BODY, "model": "gpt-4o-mini", "stream": False},
                           headers=headers)  # fmt: skip
    assert response.status_code == 404 and response.json()["type"] == "model_not_available", response.text
    assert "disabled" in response.json()["message"]
    assert httpx2.get(f"{server.url}/api/models", headers=headers).json()["fakeai"] == ["gpt-4o"]
    assert httpx2.post(f"{server.url}/api/chat", json={**BODY, "stream": False}, headers=headers).status_code == 200


# --- 7: the REST API's own 500s ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/usage?to=9999-12-31", "/api/usage/summary?to=9999-12-31",
                                 "/api/usage?from=0001-01-01T00:00:00%2B14:00"])  # fmt: skip
def test_it_answers_a_date_out_of_range_with_a_400(url):
    from tests.helpers import make_user, token_client

    response = token_client(make_user()).get(url)
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "invalid_request"


@pytest.mark.parametrize("user", ["²", "٣", "99999999999999999999999"])
def test_it_answers_a_strange_user_with_a_404_for_staff(user):
    from tests.helpers import make_user, token_client

    response = token_client(make_user("root", staff=True)).get("/api/usage", {"user": user})
    assert response.status_code == 404, response.content


def test_it_answers_deep_json_on_the_rest_api_with_a_400():
    from tests.helpers import make_user, token_client

    api = token_client(make_user())
    response = api.generic("PUT", "/api/keys", _deep(100_000), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.json()["message"]


# --- 4: tokens travel in headers, never in URLs or logs -------------------------------------------------


def test_it_takes_the_websocket_token_as_a_subprotocol_not_a_url_parameter(server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    token = api_token()
    url = server.url.replace("http://", "ws://") + "/ws/chat/"
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):  # the old way, a token in the URL: refused at the handshake
        connect(f"{url}?token={token}")
    with connect(url, subprotocols=["bearer", token]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "bearer"
        ws.send(json.dumps(BODY))
        while (message := json.loads(ws.recv(timeout=10)))["event"] not in ("final", "error"):
            pass
    assert message["event"] == "final"
    server_side = [r for r in caplog.records if not r.name.startswith("websockets.client")]  # ours and uvicorn's
    assert not [r for r in server_side if token in r.getMessage()], "a token was logged"


# --- 17: sign-in throttled, pages under a Content-Security-Policy -----------------------------------------


def test_it_throttles_failed_sign_ins_by_account_and_by_address(client, settings):
    from tests.helpers import make_user

    settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURES_PER_ADDRESS = 5, 8
    make_user("alice")
    make_user("bob")
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    refused = client.post("/accounts/login/", {"username": "Alice", "password": "pw-alice"})  # even the right one
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert client.post("/accounts/login/", {"username": "bob", "password": "pw-bob"}).status_code == 302
    client.logout()
    for _ in range(3):  # 5 + 3 failures from this address
        client.post("/accounts/login/", {"username": "bob", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "bob", "password": "pw-bob"}).status_code == 429
    other = client.post("/accounts/login/", {"username": "bob", "password": "pw-bob"}, REMOTE_ADDR="198.51.100.4")
    assert other.status_code == 302  # another address is not this one's failures


def test_it_sends_the_admin_to_the_throttled_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/"


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/docs/"])
def test_it_sends_a_content_security_policy_with_pages(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


# --- 13: pass-through options that multiply or unbound the answer -----------------------------------------


@pytest.mark.parametrize(("parameters", "field"), [
    ({"n": 5}, "parameters.n"), ({"max_completion_tokens": 10**9}, "parameters.max_completion_tokens"),
    ({"max_tokens": 10**9}, "parameters.max_tokens")])  # fmt: skip
def test_it_refuses_pass_through_options_that_multiply_or_unbound_the_answer(server, fake_openai, parameters, field):
    response = httpx2.post(f"{server.url}/api/chat", json={**BODY, "parameters": parameters},
                           headers={"Authorization": f"Bearer {api_token()}"})  # fmt: skip
    assert response.status_code == 400 and field in response.json()["errors"], response.text
    assert not fake_openai.requests


def test_it_counts_max_completion_tokens_as_max_tokens(server, fake_openai):
    response = httpx2.post(f"{server.url}/api/chat", json={**BODY, "stream": True,
                           "parameters": {"max_completion_tokens": 33, "stream_options": {"include_usage": False}}},
                           headers={"Authorization": f"Bearer {api_token()}"})  # fmt: skip
    assert response.status_code == 200, response.text
    sent = fake_openai.last.json
    assert sent["max_tokens"] == 33 and "max_completion_tokens" not in sent
    assert sent["stream_options"] == {"include_usage": True}


# --- 12: what an upstream sends is bounded -----------------------------------------------------------------


def _final_or_error(text: str) -> dict[str, Any]:
    events = [line for line in text.splitlines() if line.startswith("data: ")]
    return json.loads(events[-1][6:])


def test_it_cuts_off_an_answer_larger_than_the_cap_and_records_it(server, settings, fake_openai):
    from tests.fakes import Reply

    settings.UPSTREAM_MAX_BYTES = 256 * 1024
    fake_openai.reply = Reply(text=["x" * 1000] * 2000)  # about 2 MB
    response = httpx2.post(f"{server.url}/api/chat", json=BODY, headers={"Authorization": f"Bearer {api_token()}"},
                           timeout=30)  # fmt: skip
    assert response.status_code == 200
    error = _final_or_error(response.text)
    assert error["type"] == "upstream_error" and "UPSTREAM_MAX_BYTES" in error["message"]
    assert len(response.content) < 1024 * 1024
    deadline = time.monotonic() + 5
    while UsageRecord.objects.filter(status="pending").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = recorded()
    assert (record.status, record.error_type) == ("error", "upstream_error")
    assert record.completion_tokens > 0 and record.estimated  # what was streamed is counted


def test_it_cuts_off_an_answer_that_goes_on_too_long(server, settings, fake_openai):
    from tests.fakes import Reply

    settings.UPSTREAM_MAX_SECONDS = 1.0
    fake_openai.reply = Reply(text=["tick "] * 100, delay=0.05)  # 5 s, each chunk well within the idle timeout
    started = time.monotonic()
    response = httpx2.post(f"{server.url}/api/chat", json=BODY, headers={"Authorization": f"Bearer {api_token()}"},
                           timeout=30)  # fmt: skip
    assert time.monotonic() - started < 4
    error = _final_or_error(response.text)
    assert error["type"] == "upstream_timeout" and "UPSTREAM_MAX_SECONDS" in error["message"]


def test_it_bounds_a_fetched_model_list(server, settings, fake_openai):
    from tests.helpers import seed

    settings.MODELS_FETCH_MAX = 50
    fake_openai.models = [f"model-{n}" for n in range(5000)] + ["bad\x00name", "x" * 1000]
    seed(f"""
version: 1.3.14
endpoints:
  custom:
    - {{name: fakeai, apiKey: test-key, baseURL: '{fake_openai.base_url}', models: {{default: ['gpt-4o'], fetch: true}}}}
""")
    headers = {"Authorization": f"Bearer {api_token()}"}
    listed = httpx2.get(f"{server.url}/api/models", headers=headers).json()["fakeai"]
    assert listed == [f"model-{n}" for n in range(50)]
    settings.UPSTREAM_MAX_BYTES = 64 * 1024  # the list itself (about 250 KB) is now too large to read
    from django.core.cache import cache

    from core import memo

    cache.clear()  # the fetched list, and the read API's rendered answer
    memo.clear()
    assert httpx2.get(f"{server.url}/api/models", headers=headers).json()["fakeai"] == ["gpt-4o"]


def test_it_reads_any_time_zone_offset_python_accepts():
    from tests.helpers import make_user, token_client

    response = token_client(make_user()).get("/api/usage/summary", {"from": "2026-01-01T00:00:00+19:07"})
    assert response.status_code == 200, response.content  # PostgreSQL takes no offset past 15:59


# --- 2 and 3: seeding warns of references never resolved, and refuses a server key for a user's URL -----


def test_it_warns_at_seeding_of_a_reference_that_is_never_resolved():
    from endpoints.config import parse_text

    config = parse_text(
        """
version: 1.3.14
endpoints:
  custom:
    - name: leaky
      apiKey: '${SECRET_KEY}'
      baseURL: 'https://example.com/v1'
      headers: {X-Creds: '${CREDS_KEY}'}
      models: {default: ['m']}
""",
        env={},
    )
    text = "\\n".join(config.warnings)
    assert "endpoints.custom[0].apiKey: ${SECRET_KEY} is never resolved" in text
    assert "endpoints.custom[0].headers.X-Creds: ${CREDS_KEY} is never resolved" in text


@pytest.mark.parametrize("extra", ["apiKey: '${GROQ_KEY}'", "apiKey: sk-literal",
                                   "apiKey: user_provided\n      headers: {X-Team: '${TEAM_TOKEN}'}"])  # fmt: skip
def test_it_refuses_a_server_key_for_a_url_each_user_enters(extra):
    from endpoints.config import ConfigError
    from endpoints.models import Endpoint
    from tests.helpers import seed

    with pytest.raises(ConfigError) as caught:
        seed(f"""
version: 1.3.14
endpoints:
  custom:
    - name: mine
      {extra}
      baseURL: user_provided
      models: {{default: ['m']}}
""")
    assert "endpoints.custom[0].baseURL" in str(caught.value) and "any URL a user types" in str(caught.value)
    assert not Endpoint.objects.exists()


def test_it_refuses_it_from_the_environment_too():
    from endpoints.config import ConfigError
    from tests.helpers import seed

    with pytest.raises(ConfigError) as caught:
        seed("version: 1.3.14\n", env={"OPENAI_API_KEY": "sk-real", "OPENAI_REVERSE_PROXY": "user_provided"})
    assert "openAI: its apiKey is the server's" in str(caught.value)


def test_it_refuses_it_in_admin(admin_client):
    from endpoints.models import Endpoint
    from tests.helpers import seed

    seed("version: 1.3.14\nendpoints:\n  custom:\n    - {name: mine, apiKey: user_provided, baseURL: user_provided, "
         "models: {default: [m]}}\n")  # fmt: skip
    endpoint = Endpoint.objects.get()
    from tests.test_no_leaks import submit_admin_form

    response = submit_admin_form(admin_client, f"/admin/endpoints/endpoint/{endpoint.pk}/change/", api_key="sk-literal")
    assert response.status_code == 200 and "any URL a user types" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.api_key == "user_provided" and not endpoint.api_key_secret
