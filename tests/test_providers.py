"""The OpenAI and Azure adapters, the registry and the shared streaming machinery, against the
local fake upstreams in tests/fakes (real HTTP over loopback, no Django views)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from endpoints.providers import azure, get_provider, get_provider_class
from endpoints.providers.base import (
    ChatRequest,
    Done,
    Provider,
    ProviderError,
    Target,
    TextDelta,
    Timeouts,
    ToolCallDelta,
    Usage,
)
from tests.fakes.server import Fault, Reply, ToolCall

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

KEY = "test-key"
FAST = Timeouts(connect=0.5, first_token=0.3, idle=0.3)
HELLO = [{"role": "user", "content": "Hello?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def openai(base_url: str, **kwargs: Any) -> Provider:
    return get_provider(Target(kind="openai", base_url=base_url, api_key=kwargs.pop("api_key", KEY), **kwargs))


async def collect(provider: Provider, request: ChatRequest) -> list[Any]:
    return [event async for event in provider.stream_chat(request)]


async def failure(provider: Provider, request: ChatRequest) -> tuple[ProviderError, list[Any]]:
    events: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream_chat(request):
            events.append(event)
    assert KEY not in info.value.message
    assert "fake" not in info.value.message.lower()  # the fakes' error bodies never leak
    return info.value, events


# --- Registry ---


def test_it_looks_up_each_kind_in_the_registry():
    names = {kind: get_provider_class(kind).__name__ for kind in ("openai", "azure", "anthropic", "google")}
    assert names == {
        "openai": "OpenAIProvider",
        "azure": "AzureOpenAIProvider",
        "anthropic": "AnthropicProvider",
        "google": "GoogleProvider",
    }


def test_it_refuses_an_unknown_kind_clearly():
    with pytest.raises(ValueError, match=r"unknown provider kind 'bedrock'; known kinds: anthropic, azure"):
        get_provider_class("bedrock")


def test_it_keeps_the_key_out_of_the_target_repr():
    assert KEY not in repr(Target(kind="openai", base_url="https://x", api_key=KEY))


# --- OpenAI: the happy paths ---


async def test_it_streams_openai_text_with_the_documented_request(fake_openai):
    events = await collect(openai(fake_openai.base_url + "/"), ChatRequest(model="gpt-4o-mini", messages=HELLO))

    assert events == [
        TextDelta("Hello"),
        TextDelta(", world"),
        TextDelta("!"),
        Usage(prompt_tokens=12, completion_tokens=7, cached_tokens=0),
        Done("stop", "gpt-4o-mini"),
    ]
    sent = fake_openai.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/chat/completions", {})
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_it_derives_the_non_streamed_answer_from_the_stream(fake_openai):
    fake_openai.reply = Reply(text=["The answer", " is 42."], prompt_tokens=30, completion_tokens=5, cached_tokens=10)

    result = await openai(fake_openai.base_url).chat(ChatRequest(model="gpt-4o", messages=HELLO))

    assert result.text == "The answer is 42."
    assert result.tool_calls == []
    assert (result.finish_reason, result.model) == ("stop", "gpt-4o")
    assert result.usage == Usage(prompt_tokens=30, completion_tokens=5, cached_tokens=10)
    assert fake_openai.last.json["stream"] is True  # one parser: chat() streams too


async def test_it_normalizes_finish_reasons(fake_openai):
    fake_openai.reply = Reply(finish="length")
    events = await collect(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=HELLO))
    assert events[-1] == Done("length", "gpt-4o")


async def test_it_estimates_usage_when_the_upstream_reports_none(fake_openai):
    fake_openai.reply = Reply(text=["12345678"], usage=False)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count to eight"}]

    events = await collect(openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=messages))

    # 9 + 14 prompt characters, 8 completion characters, about four characters a token
    assert events[-2] == Usage(prompt_tokens=6, completion_tokens=2, estimated=True)


async def test_it_round_trips_openai_tool_calls(fake_openai):
    fake_openai.reply = Reply(text=[], tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_abc")])
    request = ChatRequest(model="gpt-4o", messages=HELLO, tools=TOOLS, tool_choice="auto")
    provider = openai(fake_openai.base_url)

    events = await collect(provider, request)

    assert fake_openai.last.json["tools"] == TOOLS
    assert fake_openai.last.json["tool_choice"] == "auto"
    assert events[:3] == [
        ToolCallDelta(0, "call_abc", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"city":'),
        ToolCallDelta(0, None, None, '"Paris"}'),
    ]
    assert events[-1] == Done("tool_calls", "gpt-4o")

    call = {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    follow_up = [
        *HELLO,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"temp": 21}'},
    ]
    fake_openai.reply = Reply(text=["21 degrees"])
    result = await provider.chat(ChatRequest(model="gpt-4o", messages=follow_up, tools=TOOLS))

    assert result.text == "21 degrees"
    assert fake_openai.last.json["messages"] == follow_up  # OpenAI format is the internal format


async def test_it_collects_tool_calls_in_the_non_streamed_answer(fake_openai):
    fake_openai.reply = Reply(text=[], tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", {"y": 2})])

    result = await openai(fake_openai.base_url).chat(ChatRequest(model="gpt-4o", messages=HELLO, tools=TOOLS))

    assert result.tool_calls == [
        {"id": "call_fake0", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
        {"id": "call_fake1", "type": "function", "function": {"name": "b", "arguments": '{"y":2}'}},
    ]
    assert result.finish_reason == "tool_calls"


async def test_it_reports_tool_calls_when_a_forced_tool_call_ends_with_stop(fake_openai):
    fake_openai.reply = Reply(text=[], tool_calls=[ToolCall("get_weather")], finish="stop")
    choice = {"type": "function", "function": {"name": "get_weather"}}

    result = await openai(fake_openai.base_url).chat(
        ChatRequest(model="gpt-4o", messages=HELLO, tools=TOOLS, tool_choice=choice)
    )

    assert fake_openai.last.json["tool_choice"] == choice
    assert result.finish_reason == "tool_calls"


async def test_it_sends_images_to_openai_unchanged(fake_openai):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    await collect(
        openai(fake_openai.base_url), ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": content}])
    )
    assert fake_openai.last.json["messages"] == [{"role": "user", "content": content}]


async def test_it_maps_parameters_add_params_drop_params_and_headers(fake_openai):
    target = Target(
        kind="openai",
        base_url=fake_openai.base_url,
        api_key=KEY,
        organization="org-1",
        headers={"X-Portkey-Mode": "proxy", "Host": "evil.example", "Content-Length": "1"},
        add_params={"temperature": 0.1, "seed": 7, "stream": False},
        drop_params=["user", "stop", "stream"],
    )
    request = ChatRequest(
        model="gpt-4o",
        messages=HELLO,
        temperature=0.5,
        top_p=0.9,
        max_tokens=100,
        stop=["END"],
        response_format={"type": "json_object"},
        user="user-1",
        extra={"presence_penalty": 0.5, "stream_options": {"other": 1}},
    )

    await collect(get_provider(target), request)

    sent = fake_openai.last
    assert sent.json == {
        "presence_penalty": 0.5,
        "stream_options": {"other": 1, "include_usage": True},
        "model": "gpt-4o",
        "messages": HELLO,
        "stream": True,  # protected: the parser needs a stream
        "temperature": 0.1,  # addParams win
        "top_p": 0.9,
        "max_tokens": 100,
        "response_format": {"type": "json_object"},
        "seed": 7,
    }
    assert sent.headers["x-portkey-mode"] == "proxy"
    assert sent.headers["openai-organization"] == "org-1"
    assert sent.headers["host"] == fake_openai.url.removeprefix("http://")  # framing headers are not configurable
    assert sent.headers["authorization"] == "Bearer test-key"


async def test_it_sends_max_completion_tokens_to_reasoning_models(fake_openai):
    await collect(openai(fake_openai.base_url), ChatRequest(model="o3-mini", messages=HELLO, max_tokens=50))
    assert fake_openai.last.json["max_completion_tokens"] == 50
    assert "max_tokens" not in fake_openai.last.json


async def test_it_lets_an_endpoint_header_of_the_same_name_replace_the_auth_header(fake_openai):
    fake_openai.api_key = "gateway-key"
    provider = openai(fake_openai.base_url, headers={"Authorization": "Bearer gateway-key"})

    events = await collect(provider, ChatRequest(model="gpt-4o", messages=HELLO))

    assert events[-1] == Done("stop", "gpt-4o")
    assert fake_openai.last.headers["authorization"] == "Bearer gateway-key"


async def test_it_lists_openai_models(fake_openai):
    models = await openai(fake_openai.base_url + "/").list_models()

    assert models == ["gpt-4o-mini", "gpt-4o", "o3-mini"]
    assert (fake_openai.last.method, fake_openai.last.path) == ("GET", "/v1/models")
    assert fake_openai.last.headers["authorization"] == "Bearer test-key"


async def test_it_maps_a_rejected_key_when_listing_models(fake_openai):
    with pytest.raises(ProviderError) as info:
        await openai(fake_openai.base_url, api_key="wrong").list_models()
    assert (info.value.kind, info.value.status, info.value.retryable) == ("invalid_api_key", 401, False)


async def test_it_reuses_the_upstream_connection(fake_openai):
    provider = openai(fake_openai.base_url)
    before = fake_openai.connections
    for _ in range(3):
        await provider.chat(ChatRequest(model="gpt-4o", messages=HELLO))
    assert fake_openai.connections - before == 1


# --- OpenAI: the fault matrix ---


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


# --- Cancellation ---


async def test_it_closes_the_upstream_when_the_consumer_stops(fake_openai):
    fake_openai.reply = Reply(text=["tick"] * 100, delay=0.05)
    stream = openai(fake_openai.base_url).stream_chat(ChatRequest(model="gpt-4o", messages=HELLO))

    assert await anext(stream) == TextDelta("tick")
    await stream.aclose()

    assert await fake_openai.await_for(lambda: fake_openai.last.disconnected, 1.0)


async def test_it_closes_the_upstream_when_the_task_is_cancelled(fake_openai):
    fake_openai.reply = Reply(text=["tick"], fault=Fault.STALL, after=2)
    first = asyncio.Event()

    async def consume() -> None:
        async for _event in openai(fake_openai.base_url).stream_chat(ChatRequest(model="gpt-4o", messages=HELLO)):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await fake_openai.await_for(lambda: fake_openai.last.disconnected, 1.0)


async def test_it_lets_an_outside_timeout_win_over_its_own_deadlines(fake_openai):
    fake_openai.reply = Reply(fault=Fault.NO_FIRST_BYTE)
    provider = openai(fake_openai.base_url, timeouts=Timeouts(first_token=5, idle=5))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await provider.chat(ChatRequest(model="gpt-4o", messages=HELLO))


# --- Azure ---


def azure_target(**kwargs: Any) -> Target:
    return Target(kind="azure", base_url=kwargs.pop("base_url", ""), api_key=KEY, **kwargs)


async def test_it_streams_from_an_azure_instance_deployment(fake_azure, monkeypatch):
    monkeypatch.setattr(azure, "INSTANCE_URL", fake_azure.url + "/{instance}")
    fake_azure.deployments = {"gpt4o-prod": "gpt-4o"}
    target = azure_target(azure_instance="my-res", azure_deployment="gpt4o-prod", azure_api_version="2024-10-21")

    events = await collect(get_provider(target), ChatRequest(model="gpt-4o", messages=HELLO, max_tokens=10))

    assert events[0] == TextDelta("Hello")  # Azure's prompt_filter_results chunk is skipped
    assert events[-1] == Done("stop", "gpt-4o")
    sent = fake_azure.last
    assert sent.path == "/my-res/openai/deployments/gpt4o-prod/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "gpt-4o",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 10,
    }


def test_it_builds_the_real_azure_instance_url():
    target = azure_target(azure_instance="my-res", azure_deployment="dep 1", azure_api_version="2024-10-21")
    url = get_provider(target)._chat_url()  # type: ignore[attr-defined]
    assert url == "https://my-res.openai.azure.com/openai/deployments/dep%201/chat/completions?api-version=2024-10-21"


async def test_it_fills_azure_base_url_placeholders(fake_azure):
    target = azure_target(
        base_url=fake_azure.url + "/${INSTANCE_NAME}/openai/deployments/${DEPLOYMENT_NAME}/",
        azure_instance="west",
        azure_deployment="mini",
        azure_api_version="2024-08-01-preview",
    )

    result = await get_provider(target).chat(ChatRequest(model="gpt-4o-mini", messages=HELLO))

    assert result.text == "Hello, world!"
    assert fake_azure.last.path == "/west/openai/deployments/mini/chat/completions"
    assert fake_azure.last.query == {"api-version": "2024-08-01-preview"}
    assert fake_azure.last.headers["api-key"] == KEY


async def test_it_calls_an_azure_serverless_url_as_given(fake_azure):
    target = azure_target(base_url=fake_azure.url + "/models/chat/completions", azure_serverless=True)

    result = await get_provider(target).chat(ChatRequest(model="Mistral-large", messages=HELLO))

    assert result.usage == Usage(12, 7)
    assert (fake_azure.last.path, fake_azure.last.query) == ("/models/chat/completions", {})
    assert fake_azure.last.headers["api-key"] == KEY
    assert fake_azure.last.json["model"] == "Mistral-large"


@pytest.mark.parametrize(
    ("url", "version", "query"),
    [
        ("/models/chat/completions", "2024-05-01-preview", {"api-version": "2024-05-01-preview"}),
        ("/models/chat/completions?api-version=2024-01-01", "2024-05-01-preview", {"api-version": "2024-01-01"}),
        ("/models/chat/completions?x=1", "v2", {"x": "1", "api-version": "v2"}),
    ],
)
async def test_it_adds_an_api_version_to_a_serverless_url_only_when_missing(fake_azure, url, version, query):
    target = azure_target(base_url=fake_azure.url + url, azure_serverless=True, azure_api_version=version)
    await get_provider(target).chat(ChatRequest(model="m", messages=HELLO))
    assert fake_azure.last.query == query


async def test_it_maps_an_unknown_azure_deployment(fake_azure, monkeypatch):
    monkeypatch.setattr(azure, "INSTANCE_URL", fake_azure.url + "/{instance}")
    fake_azure.deployments = {"known": "gpt-4o"}
    target = azure_target(azure_instance="res", azure_deployment="unknown", azure_api_version="2024-10-21")
    error, _ = await failure(get_provider(target), ChatRequest(model="gpt-4o", messages=HELLO))
    assert (error.kind, error.status, error.retryable) == ("model_not_available", 404, True)


async def test_it_prefers_azure_retry_after_ms(fake_azure):
    fake_azure.reply = Reply(status=429, retry_after="1.5")
    target = azure_target(base_url=fake_azure.url + "/x/chat/completions", azure_serverless=True)
    error, _ = await failure(get_provider(target), ChatRequest(model="m", messages=HELLO))
    assert (error.kind, error.retry_after) == ("upstream_rate_limited", 1.5)


async def test_it_maps_a_rejected_azure_key(fake_azure):
    target = Target(kind="azure", base_url=fake_azure.url + "/x/chat/completions", api_key="bad", azure_serverless=True)
    error, _ = await failure(get_provider(target), ChatRequest(model="m", messages=HELLO))
    assert (error.kind, error.status) == ("invalid_api_key", 401)


async def test_it_lists_azure_instance_models(fake_azure, monkeypatch):
    monkeypatch.setattr(azure, "INSTANCE_URL", fake_azure.url + "/{instance}")
    fake_azure.deployments = {"a": "gpt-4o", "b": "gpt-4o-mini"}
    target = azure_target(azure_instance="res", azure_deployment="a", azure_api_version="2024-10-21")

    assert await get_provider(target).list_models() == ["gpt-4o", "gpt-4o-mini"]
    assert (fake_azure.last.path, fake_azure.last.query) == ("/res/openai/models", {"api-version": "2024-10-21"})


async def test_it_refuses_to_list_models_of_an_azure_serverless_url():
    target = azure_target(base_url="http://127.0.0.1:9/x", azure_serverless=True)
    with pytest.raises(ProviderError) as info:
        await get_provider(target).list_models()
    assert info.value.kind == "invalid_request"
