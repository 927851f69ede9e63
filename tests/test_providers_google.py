"""The Gemini adapter against the fake Gemini API."""

from __future__ import annotations

from typing import Any

import pytest

from endpoints.providers import get_provider
from endpoints.providers.base import ChatRequest, Done, Provider, Target, TextDelta, ToolCallDelta, Usage
from tests.fakes import Fault, Reply, ToolCall
from tests.fakes.consume import collect, failure

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

KEY = "test-key"
MODEL = "gemini-2.5-flash"
HELLO = [{"role": "user", "content": "Hello?"}]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}]


def google(base_url: str, **kwargs: Any) -> Provider:
    return get_provider(Target(kind="google", base_url=base_url, api_key=kwargs.pop("api_key", KEY), **kwargs))


async def test_it_streams_gemini_text_with_the_documented_request(fake_google):
    messages = [
        {"role": "system", "content": "Be brief."},
        *HELLO,
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": [{"type": "text", "text": "Again?"}]},
    ]

    events = await collect(google(fake_google.url + "/"), ChatRequest(model=MODEL, messages=messages))

    assert events == [
        TextDelta("Hello"),
        TextDelta(", world"),
        TextDelta("!"),
        Usage(prompt_tokens=12, completion_tokens=7),
        Done("stop", MODEL),
    ]
    sent = fake_google.last
    assert (sent.method, sent.path) == ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert sent.query == {"alt": "sse"}  # the key is a header, never in the URL
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello?"}]},
            {"role": "model", "parts": [{"text": "Hi."}]},
            {"role": "user", "parts": [{"text": "Again?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


async def test_it_derives_the_answer_and_usage_from_the_stream(fake_google):
    fake_google.reply = Reply(text=["4", "2"], prompt_tokens=50, completion_tokens=2, cached_tokens=32)

    result = await google(fake_google.url).chat(ChatRequest(model=MODEL, messages=HELLO))

    assert (result.text, result.finish_reason, result.model) == ("42", "stop", MODEL)
    assert result.usage == Usage(prompt_tokens=50, completion_tokens=2, cached_tokens=32)


@pytest.mark.parametrize(
    ("reason", "finish"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")]
)
async def test_it_normalizes_finish_reasons(fake_google, reason, finish):
    fake_google.reply = Reply(finish=reason)
    events = await collect(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert events[-1] == Done(finish, MODEL)


async def test_it_round_trips_gemini_function_calls(fake_google):
    fake_google.reply = Reply(
        text=[], tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"})]
    )
    provider = google(fake_google.url)

    events = await collect(provider, ChatRequest(model=MODEL, messages=HELLO, tools=TOOLS, tool_choice="required"))

    sent = fake_google.last.json
    assert sent["tools"] == [
        {"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": SCHEMA}]}
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.index, c.name, c.arguments) for c in calls] == [
        (0, "get_weather", '{"city": "Paris"}'),
        (1, "get_weather", '{"city": "Rome"}'),
    ]
    assert calls[0].id and calls[0].id.startswith("call_") and calls[0].id != calls[1].id
    assert events[-1] == Done("tool_calls", MODEL)

    history = [
        *HELLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ],
        },
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "25C"},
    ]
    fake_google.reply = Reply(text=["Warm."])
    result = await provider.chat(ChatRequest(model=MODEL, messages=history, tools=TOOLS))

    assert result.text == "Warm."
    assert fake_google.last.json["contents"] == [
        {"role": "user", "parts": [{"text": "Hello?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "25C"}}},
            ],
        },
    ]


async def test_it_sends_a_signature_placeholder_to_gemini_3_for_replayed_calls(fake_google):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        *HELLO,
        {"role": "assistant", "tool_calls": [call, {**call, "id": "c2"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
    ]

    await collect(google(fake_google.url), ChatRequest(model="gemini-3-pro-preview", messages=messages))

    parts = fake_google.last.json["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]  # only the first of parallel calls carries one


async def test_it_refuses_a_tool_result_for_an_unknown_call(fake_google):
    messages = [*HELLO, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    error, _ = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=messages))
    assert error.kind == "invalid_request"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
async def test_it_maps_tool_choice(fake_google, choice, expected):
    await collect(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO, tools=TOOLS, tool_choice=choice))
    assert fake_google.last.json["toolConfig"] == {"functionCallingConfig": expected}


async def test_it_translates_images(fake_google):
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png?size=2"}},
    ]
    await collect(google(fake_google.url), ChatRequest(model=MODEL, messages=[{"role": "user", "content": content}]))
    assert fake_google.last.json["contents"][0]["parts"] == [
        {"text": "Compare"},
        {"inline_data": {"mime_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"file_data": {"mime_type": "image/png", "file_uri": "https://example.com/cat.png?size=2"}},
    ]


async def test_it_maps_parameters_add_params_drop_params_and_headers(fake_google):
    provider = google(
        fake_google.url,
        headers={"X-Goog-User-Project": "proj"},
        add_params={"safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
        drop_params=["systemInstruction"],
    )
    request = ChatRequest(
        model=MODEL,
        messages=[{"role": "system", "content": "Dropped"}, *HELLO],
        temperature=0.3,
        top_p=0.8,
        max_tokens=256,
        stop=["END"],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},
        extra={"seed": 1},  # OpenAI-only
    )

    await collect(provider, request)

    assert fake_google.last.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hello?"}]}],
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.8,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": SCHEMA,
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    assert fake_google.last.headers["x-goog-user-project"] == "proj"


async def test_it_reports_a_stream_that_ends_without_a_finish_reason(fake_google):
    fake_google.reply = Reply(fault=Fault.NO_TERMINATOR)
    error, events = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert events == [TextDelta("Hello"), TextDelta(", world"), TextDelta("!")]
    assert (error.kind, error.retryable, error.started) == ("upstream_error", True, True)


async def test_it_reports_a_connection_reset_mid_stream(fake_google):
    fake_google.reply = Reply(fault=Fault.RESET, after=1)
    error, events = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (events, error.kind, error.started) == ([TextDelta("Hello")], "upstream_error", True)


async def test_it_reports_an_error_object_in_the_stream(fake_google):
    fake_google.reply = Reply(fault=Fault.ERROR_EVENT, after=1)
    error, _ = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.started) == ("upstream_error", True)


async def test_it_maps_an_invalid_key_sent_as_a_400(fake_google):
    error, _ = await failure(google(fake_google.url, api_key="bad"), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.status, error.retryable) == ("invalid_api_key", 400, False)


async def test_it_takes_retry_after_from_retry_info(fake_google):
    fake_google.reply = Reply(status=429, retry_after="37")
    error, _ = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.status, error.retry_after) == ("upstream_rate_limited", 429, 37.0)


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "invalid_request"), (503, "upstream_error"), (500, "upstream_error")]
)
async def test_it_maps_gemini_error_statuses(fake_google, status, kind):
    fake_google.reply = Reply(status=status)
    error, _ = await failure(google(fake_google.url), ChatRequest(model=MODEL, messages=HELLO))
    assert (error.kind, error.status) == (kind, status)


async def test_it_maps_an_unknown_gemini_model(fake_google):
    error, _ = await failure(google(fake_google.url), ChatRequest(model="gemini-0", messages=HELLO))
    assert (error.kind, error.status, error.retryable) == ("model_not_available", 404, True)


async def test_it_lists_gemini_models_that_can_chat(fake_google):
    fake_google.page_size = 2

    models = await google(fake_google.url).list_models()

    assert models == ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-3-pro-preview"]  # no embedding model
    assert [r.query for r in fake_google.requests] == [{"pageSize": "1000"}, {"pageSize": "1000", "pageToken": "2"}]
    assert fake_google.last.headers["x-goog-api-key"] == KEY
