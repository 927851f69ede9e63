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

from tests.helpers import api_token, seed_fake_endpoint
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
    record = UsageRecord.objects.get()
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
