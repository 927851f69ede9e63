"""The fault matrix, against the OpenAI adapter: every way an upstream call can fail, and the
ProviderError it must become (kind, retryable, started), with the timeouts implemented around
the byte stream."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from endpoints.providers import get_provider
from endpoints.providers.base import ChatRequest, Done, Provider, Target, TextDelta, Timeouts
from tests.fakes import Fault, Reply
from tests.fakes.consume import collect, failure

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

FAST = Timeouts(connect=0.5, first_token=0.3, idle=0.3)
HELLO = [{"role": "user", "content": "Hello?"}]


def openai(base_url: str, **kwargs: Any) -> Provider:
    return get_provider(Target(kind="openai", base_url=base_url, api_key=kwargs.pop("api_key", "test-key"), **kwargs))


async def test_it_reports_a_refused_connection(refused_url):
    error, _ = await failure(openai(refused_url, timeouts=FAST), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.retryable, error.started, error.status) == ("upstream_error", True, False, None)
    assert "could not connect" in error.message.lower()


async def test_it_reports_a_failed_name_lookup_as_a_connection_error():
    error, _ = await failure(openai("http://llm.invalid/v1", timeouts=FAST), ChatRequest(model="m", messages=HELLO))
    assert (error.kind, error.retryable) == ("upstream_error", True)
    assert "could not connect" in error.message.lower()


async def test_it_times_out_connecting(blackhole_url):
    started = time.monotonic()
    target_timeouts = Timeouts(connect=0.3, first_token=5, idle=5)
    error, _ = await failure(openai(blackhole_url, timeouts=target_timeouts), ChatRequest(model="m", messages=HELLO))
    assert (error.kind, error.retryable, error.started) == ("upstream_timeout", True, False)
    assert time.monotonic() - started < 2


async def test_it_times_out_waiting_for_the_first_byte(fake_openai):
    fake_openai.reply = Reply(fault=Fault.NO_FIRST_BYTE)
    started = time.monotonic()

    error, events = await failure(
        openai(fake_openai.base_url, timeouts=FAST), ChatRequest(model="gpt-4o", messages=HELLO)
    )

    assert (error.kind, error.retryable, error.started, events) == ("upstream_timeout", True, False, [])
    assert 0.25 < time.monotonic() - started < 1.5
    assert await fake_openai.await_for(lambda: fake_openai.last.disconnected, 1.0)


async def test_it_times_out_when_headers_come_but_no_body(fake_openai):
    fake_openai.reply = Reply(fault=Fault.STALL, after=0)
    error, _ = await failure(openai(fake_openai.base_url, timeouts=FAST), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.started) == ("upstream_timeout", False)
    assert "start answering" in error.message


async def test_it_times_out_when_the_stream_stalls(fake_openai):
    fake_openai.reply = Reply(text=["a", "b", "c"], fault=Fault.STALL, after=2)

    error, events = await failure(
        openai(fake_openai.base_url, timeouts=FAST), ChatRequest(model="gpt-4o", messages=HELLO)
    )

    assert events == [TextDelta("a")]
    assert (error.kind, error.retryable, error.started) == ("upstream_timeout", True, True)
    assert "stopped sending" in error.message


async def test_it_keeps_streaming_while_gaps_stay_under_the_idle_timeout(fake_openai):
    fake_openai.reply = Reply(text=["a"] * 3, delay=0.1)
    events = await collect(openai(fake_openai.base_url, timeouts=FAST), ChatRequest(model="gpt-4o", messages=HELLO))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "aaa"  # 0.7 s in all, gaps of 0.1 s


async def test_it_does_not_count_the_consumers_time_as_upstream_silence(fake_openai):
    events = []
    async for event in openai(fake_openai.base_url, timeouts=FAST).stream_chat(
        ChatRequest(model="gpt-4o", messages=HELLO)
    ):
        if not events:
            await asyncio.sleep(0.4)  # longer than the idle timeout, between two events
        events.append(event)
    assert isinstance(events[-1], Done)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "invalid_request", False),
        (401, "invalid_api_key", False),
        (403, "invalid_api_key", False),
        (422, "invalid_request", False),
        (500, "upstream_error", True),
        (502, "upstream_error", True),
        (503, "upstream_error", True),
    ],
)
async def test_it_maps_error_statuses(fake_openai, status, kind, retryable):
    fake_openai.reply = Reply(status=status)
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.status, error.retryable, error.started) == (kind, status, retryable, False)


async def test_it_maps_a_rejected_key(fake_openai):
    error, _ = await failure(
        openai(fake_openai.base_url, api_key="sk-wrong"), ChatRequest(model="gpt-4o", messages=HELLO)
    )
    assert (error.kind, error.status) == ("invalid_api_key", 401)
    assert "sk-wrong" not in error.message


async def test_it_maps_an_unknown_model(fake_openai):
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-9", messages=HELLO))
    assert (error.kind, error.status, error.retryable) == ("model_not_available", 404, True)


async def test_it_passes_on_retry_after_seconds(fake_openai):
    fake_openai.reply = Reply(status=429, retry_after="7")
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.status, error.retryable, error.retry_after) == ("upstream_rate_limited", 429, True, 7.0)
    assert "7 s" in error.message


async def test_it_passes_on_retry_after_as_an_http_date(fake_openai):
    fake_openai.reply = Reply(status=429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert error.retry_after is not None and 25 <= error.retry_after <= 30


async def test_it_reports_a_connection_reset_mid_stream(fake_openai):
    fake_openai.reply = Reply(text=["a", "b"], fault=Fault.RESET, after=2)
    error, events = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert events == [TextDelta("a")]
    assert (error.kind, error.retryable, error.started) == ("upstream_error", True, True)


async def test_it_reports_a_connection_reset_before_any_event(fake_openai):
    fake_openai.reply = Reply(fault=Fault.RESET, after=0)
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.started) == ("upstream_error", False)


async def test_it_reports_a_malformed_event(fake_openai):
    fake_openai.reply = Reply(fault=Fault.MALFORMED, after=2)
    error, events = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert events == [TextDelta("Hello")]
    assert (error.kind, error.started) == ("upstream_error", True)
    assert "malformed" in error.message


async def test_it_reports_a_stream_without_its_terminator(fake_openai):
    fake_openai.reply = Reply(fault=Fault.NO_TERMINATOR)
    error, events = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert len(events) == 3  # the text came, but no [DONE]: usage and Done are not invented
    assert (error.kind, error.retryable, error.started) == ("upstream_error", True, True)


async def test_it_reports_a_stream_that_ends_mid_event(fake_openai):
    fake_openai.reply = Reply(fault=Fault.PARTIAL, after=2)
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.started) == ("upstream_error", True)


async def test_it_reports_an_over_long_line(fake_openai):
    fake_openai.reply = Reply(fault=Fault.OVERLONG, after=1)
    error, events = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.started, events) == ("upstream_error", False, [])
    assert "over-long" in error.message


async def test_it_reports_an_error_object_inside_the_stream(fake_openai):
    fake_openai.reply = Reply(fault=Fault.ERROR_EVENT, after=2)
    error, _ = await failure(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.retryable, error.started) == ("upstream_error", True, True)


async def test_it_reports_an_answer_that_is_not_a_stream(fake_openai, monkeypatch):
    provider = openai(fake_openai.base_url)
    monkeypatch.setattr(type(provider), "_body", lambda self, request: {"model": "gpt-4o", "messages": HELLO})
    error, _ = await failure(provider, ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.status) == ("upstream_error", 200)
