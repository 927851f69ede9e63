"""The registry, the OpenAI adapter (also used for custom OpenAI-compatible endpoints) and
cancellation, against the local fake upstreams in tests/fakes (real HTTP over loopback, no Django
views). Faults: test_providers_faults.py; other vendors: test_providers_<vendor>.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from endpoints.providers import get_provider, get_provider_class
from endpoints.providers.base import ChatRequest, Done, Provider, Target, TextDelta, Timeouts, ToolCallDelta, Usage
from endpoints.providers.errors import ProviderError
from tests.fakes import Fault, Reply, ToolCall
from tests.fakes.consume import collect

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

KEY = "test-key"
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
    with pytest.raises(
        ValueError, match=r"unknown provider kind 'bedrock'; known kinds: anthropic, .*azure.*, google, openai"
    ):
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

    # "Be brief." and "Count to eight" are 3 tokens each (as o200k counts them), 4 of framing per
    # message and 3 priming the answer; the adapter knows only the answer's 8 characters: 2 tokens
    # (the chat session counts the text itself)
    assert events[-2] == Usage(prompt_tokens=3 + 3 + 2 * 4 + 3, completion_tokens=2, estimated=True)


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
