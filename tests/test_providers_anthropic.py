"""The Anthropic Messages adapter against the fake Anthropic API."""

from __future__ import annotations

from typing import Any

import pytest

from endpoints.providers import get_provider
from endpoints.providers.base import ChatRequest, Done, Provider, Target, TextDelta, Timeouts, ToolCallDelta, Usage
from tests.fakes import Fault, Reply, ToolCall
from tests.fakes.consume import collect, failure

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

KEY = "test-key"
MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "Hello?"}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}]


def anthropic(base_url: str, **kwargs: Any) -> Provider:
    return get_provider(Target(kind="anthropic", base_url=base_url, api_key=kwargs.pop("api_key", KEY), **kwargs))


async def test_it_streams_anthropic_text_with_the_documented_request(fake_anthropic):
    messages = [{"role": "system", "content": "Be brief."}, *HELLO]

    events = await collect(anthropic(fake_anthropic.url + "/"), ChatRequest(model=MODEL, messages=messages))

    assert events == [
        TextDelta("Hello"),
        TextDelta(", world"),
        TextDelta("!"),
        Usage(prompt_tokens=12, completion_tokens=7),
        Done("stop", MODEL),
    ]
    sent = fake_anthropic.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/messages", {})
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "messages": HELLO,
        "max_tokens": 8192,
        "stream": True,
        "system": "Be brief.",
    }


async def test_it_defaults_max_tokens_to_what_claude_3_allows(fake_anthropic):
    await collect(anthropic(fake_anthropic.url), ChatRequest(model="claude-3-haiku-20240307", messages=HELLO))
    assert fake_anthropic.last.json["max_tokens"] == 4096


async def test_it_counts_cache_reads_in_prompt_tokens(fake_anthropic):
    fake_anthropic.reply = Reply(text=["ok"], prompt_tokens=100, cached_tokens=80, completion_tokens=3)

    result = await anthropic(fake_anthropic.url).chat(ChatRequest(model=MODEL, messages=HELLO))

    assert (result.text, result.finish_reason, result.model) == ("ok", "stop", MODEL)
    assert result.usage == Usage(prompt_tokens=100, completion_tokens=3, cached_tokens=80)


@pytest.mark.parametrize(
    ("stop_reason", "finish"), [("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter")]
)
async def test_it_normalizes_stop_reasons(fake_anthropic, stop_reason, finish):
    fake_anthropic.reply = Reply(finish=stop_reason)
    events = await collect(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO))
    assert events[-1] == Done(finish, MODEL)


async def test_it_round_trips_anthropic_tool_use(fake_anthropic):
    fake_anthropic.reply = Reply(
        text=["Let me check."], tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_1")]
    )
    provider = anthropic(fake_anthropic.url)

    events = await collect(provider, ChatRequest(model=MODEL, messages=HELLO, tools=TOOLS, tool_choice="auto"))

    sent = fake_anthropic.last.json
    assert sent["tools"] == [{"description": "Weather", "name": "get_weather", "input_schema": SCHEMA}]
    assert sent["tool_choice"] == {"type": "auto"}
    # The tool_use block is content block 1 (after the text); the call is tool call 0.
    assert events[:4] == [
        TextDelta("Let me check."),
        ToolCallDelta(0, "toolu_1", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"city":'),
        ToolCallDelta(0, None, None, '"Paris"}'),
    ]
    assert events[-1] == Done("tool_calls", MODEL)

    calls = [
        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
    ]
    follow_up = [
        *HELLO,
        {"role": "assistant", "content": "Let me check.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    fake_anthropic.reply = Reply(text=["Sunny."])
    result = await provider.chat(ChatRequest(model=MODEL, messages=follow_up, tools=TOOLS))

    assert result.text == "Sunny."
    assert fake_anthropic.last.json["messages"] == [
        *HELLO,
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "25C"}]},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
async def test_it_maps_tool_choice(fake_anthropic, choice, expected):
    await collect(
        anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO, tools=TOOLS, tool_choice=choice)
    )
    assert fake_anthropic.last.json["tool_choice"] == expected


async def test_it_refuses_tool_arguments_that_are_not_json(fake_anthropic):
    bad = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
    messages = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [bad]}]
    error, _ = await failure(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=messages))
    assert error.kind == "invalid_request"
    assert fake_anthropic.requests == []


async def test_it_translates_images(fake_anthropic):
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    await collect(
        anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=[{"role": "user", "content": content}])
    )
    assert fake_anthropic.last.json["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_it_maps_parameters_add_params_drop_params_and_headers(fake_anthropic):
    provider = anthropic(
        fake_anthropic.url,
        headers={"anthropic-beta": "prompt-caching-2024-07-31"},
        add_params={"top_k": 5, "temperature": 0.2},
        drop_params=["top_p"],
    )
    request = ChatRequest(
        model=MODEL,
        messages=HELLO,
        temperature=0.7,
        top_p=0.5,
        max_tokens=300,
        stop=["\n\nHuman:"],
        user="user-1",
        extra={"frequency_penalty": 1},  # OpenAI-only: never sent to Anthropic
        response_format={"type": "json_object"},
    )

    await collect(provider, request)

    assert fake_anthropic.last.json == {
        "model": MODEL,
        "messages": HELLO,
        "max_tokens": 300,
        "stream": True,
        "temperature": 0.2,
        "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "user-1"},
        "top_k": 5,
    }
    assert fake_anthropic.last.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert fake_anthropic.last.headers["x-api-key"] == KEY


async def test_it_reports_an_error_event_mid_stream(fake_anthropic):
    fake_anthropic.reply = Reply(text=["a", "b"], fault=Fault.ERROR_EVENT, after=4)

    error, events = await failure(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO))

    assert events == [TextDelta("a")]
    assert (error.kind, error.retryable, error.started) == ("upstream_error", True, True)
    assert "overloaded" in error.message


async def test_it_reports_a_stream_without_message_stop(fake_anthropic):
    fake_anthropic.reply = Reply(fault=Fault.NO_TERMINATOR)
    error, events = await failure(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO))
    assert len(events) == 3
    assert (error.kind, error.started) == ("upstream_error", True)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (529, "upstream_error", True),
        (500, "upstream_error", True),
        (413, "invalid_request", False),
        (403, "invalid_api_key", False),
    ],
)
async def test_it_maps_anthropic_error_statuses(fake_anthropic, status, kind, retryable):
    fake_anthropic.reply = Reply(status=status)
    error, _ = await failure(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.status, error.retryable) == (kind, status, retryable)


async def test_it_maps_anthropic_rate_limits_and_keys_and_models(fake_anthropic):
    fake_anthropic.reply = Reply(status=429, retry_after="12")
    error, _ = await failure(anthropic(fake_anthropic.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.retry_after) == ("upstream_rate_limited", 12.0)

    error, _ = await failure(anthropic(fake_anthropic.url, api_key="bad"), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.status) == ("invalid_api_key", 401)

    error, _ = await failure(anthropic(fake_anthropic.url), ChatRequest(model="claude-9", messages=HELLO))
    assert (error.kind, error.status, error.retryable) == ("model_not_available", 404, True)


async def test_it_stalls_into_a_timeout_and_closes_the_connection(fake_anthropic):
    fake_anthropic.reply = Reply(fault=Fault.STALL, after=3)
    provider = anthropic(fake_anthropic.url, timeouts=Timeouts(connect=1, first_token=0.3, idle=0.3))
    error, events = await failure(provider, ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, events, error.started) == ("upstream_timeout", [], False)  # ping and starts are no content
    assert await fake_anthropic.await_for(lambda: fake_anthropic.last.disconnected, 1.0)


async def test_it_lists_anthropic_models_across_pages(fake_anthropic):
    fake_anthropic.page_size = 2

    models = await anthropic(fake_anthropic.url).list_models()

    assert models == ["claude-sonnet-4-5", "claude-3-5-haiku-latest", "claude-3-haiku-20240307"]
    assert [r.query for r in fake_anthropic.requests] == [
        {"limit": "1000"},
        {"limit": "1000", "after_id": "claude-3-5-haiku-latest"},
    ]
    assert fake_anthropic.last.headers["anthropic-version"] == "2023-06-01"
    assert fake_anthropic.last.headers["x-api-key"] == KEY
