"""The SSE parser, the shared HTTP client and the small shared functions of providers/base.py."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from endpoints.providers import http
from endpoints.providers.base import Target, finalize_body, request_headers
from endpoints.providers.errors import ProviderError, parse_retry_after
from endpoints.providers.sse import SSEParser, iter_sse


def feed_all(parser: SSEParser, *chunks: bytes) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


STREAM = (
    b'event: delta\ndata: {"a":1}\n\n: keep-alive\n\n'
    b"data: line one\ndata: line two\n\nid: 7\nretry: 10\n\ndata: [DONE]\n\n"
)
EXPECTED = [("delta", '{"a":1}'), ("message", "line one\nline two"), ("message", "[DONE]")]


def test_it_parses_events_comments_and_multi_line_data():
    parser = SSEParser()
    assert parser.feed(STREAM) == EXPECTED
    assert parser.ended_cleanly


def test_it_parses_a_stream_split_at_every_byte():
    parser = SSEParser()
    assert feed_all(parser, *(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_it_accepts_crlf_and_cr_line_endings_even_when_split(newline):
    stream = STREAM.replace(b"\n", newline)
    assert SSEParser().feed(stream) == EXPECTED
    assert feed_all(SSEParser(), *(stream[i : i + 1] for i in range(len(stream)))) == EXPECTED


def test_it_keeps_utf8_characters_split_across_chunks():
    data = "data: héllo ☃\n\n".encode()
    assert feed_all(SSEParser(), data[:9], data[9:14], data[14:]) == [("message", "héllo ☃")]


def test_it_accepts_data_without_a_space_and_a_bare_data_field():
    assert SSEParser().feed(b"data:x\n\ndata\n\n") == [("message", "x"), ("message", "")]


def test_it_dispatches_nothing_for_an_event_without_data():
    assert SSEParser().feed(b"event: ping\n\ndata: 1\n\n") == [("message", "1")]


def test_it_tells_when_a_stream_ends_mid_event():
    parser = SSEParser()
    parser.feed(b"data: {}\n\ndata: {")
    assert not parser.ended_cleanly
    parser = SSEParser()
    parser.feed(b"data: {}\n")
    assert not parser.ended_cleanly


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: " + b"x" * 200 + b"\n\n"],  # one over-long line in one chunk
        [b"data: " + b"x" * 60] * 4,  # one over-long line in pieces, never ended
        [b"data: " + b"x" * 60, b"x" * 60 + b"\n\n"],  # ... ended after the limit
        [b"data: " + b"x" * 60 + b"\n"] * 3,  # an over-long event made of short lines
    ],
)
def test_it_refuses_over_long_lines(chunks):
    parser = SSEParser(max_line=100)
    with pytest.raises(ProviderError) as info:
        feed_all(parser, *chunks)
    assert info.value.kind == "upstream_error"


async def test_it_iterates_events_from_an_async_byte_source():
    async def source():
        yield b"data: 1\n"
        yield b"\ndata: 2\n\n"

    assert [event async for event in iter_sse(source())] == [("message", "1"), ("message", "2")]


# --- base.py helpers ---


def test_it_parses_retry_after_values():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_it_applies_add_params_then_drop_params_but_protects_stream():
    target = Target(
        kind="openai", base_url="", api_key="k", add_params={"a": 1, "stream": False}, drop_params=["b", "a", "stream"]
    )
    assert finalize_body({"b": 2, "c": 3, "stream": True}, target) == {"c": 3, "stream": True}


def test_it_merges_endpoint_headers_case_insensitively():
    target = Target(
        kind="openai",
        base_url="",
        api_key="k",
        headers={"X-Extra": "1", "AUTHORIZATION": "Bearer other", "Content-Length": "9"},
    )
    headers = request_headers({"Authorization": "Bearer k", "accept": "text/event-stream"}, target)
    assert headers == {"authorization": "Bearer other", "accept": "text/event-stream", "x-extra": "1"}


# --- The shared client ---


async def test_it_shares_one_client_per_event_loop():
    client = http.get_client()
    assert http.get_client() is client
    assert not client.follow_redirects
    assert client._trust_env is False  # no proxies from the environment

    other: list[httpx2.AsyncClient] = []
    thread_loop = asyncio.new_event_loop()
    try:

        async def grab() -> None:
            other.append(http.get_client())
            await http.aclose_clients()

        await asyncio.to_thread(thread_loop.run_until_complete, grab())
    finally:
        thread_loop.close()
    assert other[0] is not client

    await http.aclose_clients()
    assert client.is_closed
    assert http.get_client() is not client
    await http.aclose_clients()


async def test_it_keeps_no_cookie_an_upstream_sets_for_the_next_request():
    from aiohttp import web

    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", f"of-caller-{len(seen)}", path="/")
        return response

    app = web.Application()
    app.router.add_get("/v1/models", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = http.get_client()
        for _ in range(3):
            response = await client.get(f"http://127.0.0.1:{port}/v1/models")
            assert response.headers["set-cookie"].startswith("session=of-caller-")
    finally:
        await http.aclose_clients()
        await runner.cleanup()

    assert seen == [None, None, None]


def test_it_closes_the_pool_of_a_loop_made_for_one_call_from_sync_code():
    opened: list[httpx2.AsyncClient] = []

    async def call(n: int) -> int:
        opened.append(http.get_client())
        return n + 1

    assert http.from_sync(call)(1) == 2  # no event loop here: asgiref makes one for the call
    assert opened[0].is_closed


async def test_it_leaves_the_pool_of_the_running_loop_open_for_sync_code_called_from_it():
    from asgiref.sync import sync_to_async

    client = http.get_client()

    async def call() -> httpx2.AsyncClient:
        return http.get_client()

    try:
        assert await sync_to_async(http.from_sync(call))() is client  # back on this loop, as in a server
        assert not client.is_closed
    finally:
        await http.aclose_clients()


async def test_it_guards_every_client_and_keeps_private_addresses_for_admin_endpoints():
    from endpoints.netguard import GuardedTransport

    try:
        guarded = http.get_client(guarded=True)
        admin = http.get_client()
        assert guarded is not admin
        assert isinstance(guarded._transport, GuardedTransport) and isinstance(admin._transport, GuardedTransport)
        assert guarded._transport.allow_private is False
        assert admin._transport.allow_private is True
    finally:
        await http.aclose_clients()


async def test_it_reports_a_blocked_user_address_as_an_invalid_base_url(monkeypatch):
    from endpoints.netguard import BlockedAddressError

    error = http.transport_error(BlockedAddressError("no", host="10.0.0.1"), guarded=True)
    assert (error.kind, error.retryable) == ("invalid_base_url", False)
    assert http.transport_error(BlockedAddressError("no", host="10.0.0.1")).kind == "upstream_error"
