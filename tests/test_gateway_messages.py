"""Anthropic's Messages API at the gateway (/v1/messages, /v1/messages/count_tokens, /v1/models in
Anthropic's shape), driven by the official ``anthropic`` SDK over a real ASGI server, against
the fake upstreams of every wire format."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ApiError
from endpoints.chat import request as checks
from endpoints.chat.request import Errors
from endpoints.gateway.anthropic_request import parse_messages
from tests.every_endpoint import ENDPOINTS, configure, personal_token
from tests.fakes.server import Fault, Reply, ToolCall
from tests.helpers import recorded
from tests.test_api_schema import _validator, served_schema
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi"}]
WEATHER = [{"name": "get_weather", "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]  # fmt: skip
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture
def setup(settings, fake_openai, fake_anthropic, fake_google, fake_azure, asgi_server) -> tuple[str, str]:
    """(the server's URL, a user's token) with custom, openAI, anthropic, google and azureOpenAI endpoints."""
    configure(settings, fake_openai, fake_anthropic, fake_google, fake_azure)
    return asgi_server.url, personal_token()


@pytest.fixture
def client(setup) -> anthropic.Anthropic:
    url, token = setup
    return anthropic.Anthropic(base_url=url, api_key=token, max_retries=0, timeout=20)


def fake(request: pytest.FixtureRequest, name: str) -> Any:
    return request.getfixturevalue(name)


def events(url: str, token: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The raw SSE events of a streamed message: (event name, data)."""
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    response = httpx2.post(f"{url}/v1/messages", json={**body, "stream": True}, headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    out = []
    for frame in response.text.strip().split("\n\n"):
        name, data = frame.split("\n", 1)
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


# --- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_answers_a_message_from_every_endpoint_type(client, request, model, upstream):
    answer = client.messages.create(model=model, max_tokens=100, messages=HELLO)
    assert answer.type == "message" and answer.role == "assistant" and answer.id.startswith("msg_")
    assert answer.model == model
    assert [(b.type, b.text) for b in answer.content] == [("text", "Hello, world!")]
    assert (answer.stop_reason, answer.stop_sequence) == ("end_turn", None)
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 7)
    assert fake(request, upstream).last.method == "POST"
    record = recorded()
    assert (record.via, record.status, record.prompt_tokens, record.completion_tokens) == ("gateway", "ok", 12, 7)
    assert model == f"{record.answered_endpoint}/{record.answered_model}"
    assert answer.id == "msg_" + record.request_id.removeprefix("req_")


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_streams_text_with_the_sdk_helper(client, model, upstream):
    with client.messages.stream(model=model, max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello, world!"
    assert final.model == model and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)
    assert recorded().status == "ok"


def test_it_sends_anthropics_event_sequence(setup):
    url, token = setup
    seen = events(url, token, {"model": "fakeai/gpt-4o", "max_tokens": 50, "messages": HELLO})
    names = [name for name, _data in seen]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_delta", "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
    assert all(data["type"] == name for name, data in seen)
    start = seen[0][1]["message"]
    assert (start["role"], start["content"], start["stop_reason"], start["model"]) == (
        "assistant", [], None, "fakeai/gpt-4o")  # fmt: skip
    assert start["usage"]["input_tokens"] > 0  # the prompt's estimate: the upstream counts at the end
    assert seen[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert seen[3][1] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}
    assert seen[7][1] == {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"input_tokens": 12, "output_tokens": 7}}  # fmt: skip


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_streams_a_tool_use_round_trip(client, request, model, upstream):
    upstream_fake = fake(request, upstream)
    upstream_fake.reply = Reply(text=["Let me look."], tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    with client.messages.stream(model=model, max_tokens=200, messages=HELLO, tools=WEATHER) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    text, call = final.content
    assert (text.type, text.text) == ("text", "Let me look.")
    assert (call.type, call.name, call.input) == ("tool_use", "get_weather", {"city": "Paris"}) and call.id
    upstream_fake.reply = Reply(text=["It is sunny."])
    history = [
        *HELLO,
        {"role": "assistant", "content": final.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C, sun"}]},
    ]
    with client.messages.stream(model=model, max_tokens=200, messages=history, tools=WEATHER) as stream:
        assert "".join(stream.text_stream) == "It is sunny."
    sent = json.dumps(upstream_fake.last.json)
    assert "18 C, sun" in sent and "get_weather" in sent and "Paris" in sent


def test_it_passes_a_tool_use_round_trip_as_openai_messages(client, fake_openai):
    history = [*HELLO,
               {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
               {"role": "user", "content": [
                   {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18 C"}]},
                   {"type": "text", "text": "And tomorrow?"}]}]  # fmt: skip
    client.messages.create(model="fakeai/gpt-4o", max_tokens=10, messages=history, tools=WEATHER,
                           tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True})  # fmt: skip
    sent = fake_openai.last.json
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "user", "content": "And tomorrow?"},
    ]  # fmt: skip
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER[0]["input_schema"],
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False


def test_it_passes_system_images_stop_sequences_and_parameters(client, fake_openai):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}]  # fmt: skip
    client.messages.create(
        model="fakeai/gpt-4o", max_tokens=64, system=[{"type": "text", "text": "Be brief."},
                                                      {"type": "text", "text": "Be kind."}],
        messages=[{"role": "user", "content": content}], stop_sequences=["END"], metadata={"user_id": "someone"},
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5},  # sampling: no longer SDK arguments
    )  # fmt: skip
    sent = fake_openai.last.json
    assert sent["messages"][0] == {"role": "system", "content": "Be brief.\n\nBe kind."}
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    assert (sent["max_tokens"], sent["stop"], sent["temperature"], sent["top_p"]) == (64, ["END"], 0.2, 0.9)
    assert "top_k" not in sent and "metadata" not in sent


def test_it_passes_an_image_to_gemini(client, fake_google):
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
               {"type": "text", "text": "What is this?"}]  # fmt: skip
    client.messages.create(
        model="google/gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": content}]
    )
    assert PIXEL in json.dumps(fake_google.last.json["contents"][0]["parts"][0])


def test_it_names_the_fallback_that_answered(client, fake_openai):
    fake_openai.models = None
    fake_openai.reply = Reply(status=503)
    answer = client.messages.create(model="fakeai/flaky", max_tokens=10, messages=HELLO)
    assert answer.model == "anthropic/claude-sonnet-4-5"
    assert answer.content[0].text == "Hello, world!"


def test_it_maps_stop_reasons(client, fake_openai):
    fake_openai.reply = Reply(finish="length")
    assert client.messages.create(model="fakeai/gpt-4o", max_tokens=3, messages=HELLO).stop_reason == "max_tokens"


async def test_it_works_with_the_async_client(setup):
    url, token = setup
    async with anthropic.AsyncAnthropic(base_url=url, api_key=token, max_retries=0, timeout=20) as client:
        answer = await client.messages.create(model="google/gemini-2.5-flash", max_tokens=50, messages=HELLO)
        assert answer.content[0].text == "Hello, world!"
        async with client.messages.stream(model="anthropic/claude-sonnet-4-5", max_tokens=50, messages=HELLO) as s:
            assert "".join([text async for text in s.text_stream]) == "Hello, world!"
            assert (await s.get_final_message()).usage.output_tokens == 7
        assert [m.id async for m in client.models.list()]


# --- errors -----------------------------------------------------------------------------


def test_it_answers_errors_in_anthropics_shape(setup):
    url, token = setup
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    response = httpx2.post(f"{url}/v1/messages", json={"model": "fakeai/gpt-4o", "messages": HELLO}, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"]
    assert body["error"]["type"] == "invalid_request_error" and "max_tokens" in body["error"]["message"]
    assert body["error"]["details"]["error_code"] == "invalid_request"
    response = httpx2.get(f"{url}/v1/messages", headers=headers)
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"
    response = httpx2.post(f"{url}/v1/messages", content=b"{not json", headers=headers)
    assert response.status_code == 400 and response.json()["type"] == "error"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "messages[0].content[0]"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
    ],
)
def test_it_refuses_what_it_cannot_route_naming_the_field(client, body, field):
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="fakeai/gpt-4o", max_tokens=10, messages=HELLO, extra_body=body)
    assert raised.value.type == "invalid_request_error" and raised.value.error_code == "invalid_request"
    assert field in raised.value.body["error"]["details"]["errors"]


def test_it_raises_not_found_for_an_unknown_model(client):
    with pytest.raises(anthropic.NotFoundError) as raised:
        client.messages.create(model="fakeai/nope-1", max_tokens=10, messages=HELLO)
    assert (raised.value.type, raised.value.error_code) == ("not_found_error", "model_not_available")
    assert recorded().error_type == "model_not_available"


def test_it_raises_an_authentication_error_for_a_bad_token(client):
    bad = client.with_options(api_key="not-a-token")
    with pytest.raises(anthropic.AuthenticationError) as raised:
        bad.messages.create(model="fakeai/gpt-4o", max_tokens=10, messages=HELLO)
    assert raised.value.type == "authentication_error" and "x-api-key" in raised.value.api_message
    assert not UsageRecord.objects.exists()


def test_it_accepts_the_token_as_x_api_key(setup):
    url, token = setup
    response = httpx2.post(f"{url}/v1/messages", headers={"x-api-key": token},
                           json={"model": "fakeai/gpt-4o", "max_tokens": 10, "messages": HELLO})  # fmt: skip
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "Hello, world!"


@pytest.mark.parametrize("stream", [False, True])
def test_it_raises_a_rate_limit_error_when_the_upstream_rate_limits(client, fake_google, stream):
    fake_google.reply = Reply(status=429, retry_after="7")
    with pytest.raises(anthropic.RateLimitError) as raised:
        if stream:
            with client.messages.stream(model="google/gemini-2.5-flash", max_tokens=10, messages=HELLO) as s:
                s.get_final_message()
        else:
            client.messages.create(model="google/gemini-2.5-flash", max_tokens=10, messages=HELLO)
    assert (raised.value.type, raised.value.error_code) == ("rate_limit_error", "upstream_rate_limited")
    assert raised.value.response.headers["retry-after"] == "7"


def test_it_refuses_past_our_own_limits_in_anthropics_shape(client, settings):
    settings.MESSAGE_IP_MAX = 1
    client.messages.create(model="fakeai/gpt-4o", max_tokens=10, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model="fakeai/gpt-4o", max_tokens=10, messages=HELLO)
    assert raised.value.error_code == "rate_limit_exceeded" and raised.value.details is not None


def test_it_ends_a_broken_stream_with_an_error_event(client, fake_openai):
    fake_openai.reply = Reply(fault=Fault.RESET, after=2)
    received = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model="fakeai/gpt-4o", max_tokens=10, messages=HELLO) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert received and raised.value.error_code == "upstream_error"
    assert recorded().status == "error"


# --- count_tokens and models --------------------------------------------------------------


@pytest.mark.parametrize(("model", "upstream", "path"), [
    ("anthropic/claude-sonnet-4-5", "fake_anthropic", "/v1/messages/count_tokens"),
    ("google/gemini-2.5-flash", "fake_google", "/v1beta/models/gemini-2.5-flash:countTokens"),
])  # fmt: skip
def test_it_asks_the_upstreams_own_counter_where_there_is_one(client, setup, request, model, upstream, path):
    counted = client.messages.count_tokens(model=model, messages=HELLO, system="Be brief.", tools=WEATHER)

    # The fakes count 10 per message, 5 for a system prompt and 20 per tool: the whole prompt went.
    assert counted.input_tokens == 10 + 5 + 20
    assert fake(request, upstream).last.path == path
    url, token = setup
    response = httpx2.post(f"{url}/v1/messages/count_tokens", headers={"x-api-key": token},
                           json={"model": model, "messages": HELLO})  # fmt: skip
    assert response.status_code == 200 and response.headers["x-token-count"] == "upstream"
    assert response.json() == {"input_tokens": 10}
    assert not UsageRecord.objects.exists()  # counting is not a chat


def test_it_estimates_where_the_upstream_has_no_counter_or_it_fails(setup, fake_anthropic):
    url, token = setup

    def count(model: str, messages: list[dict[str, Any]] = HELLO) -> httpx2.Response:
        return httpx2.post(f"{url}/v1/messages/count_tokens", headers={"x-api-key": token},
                           json={"model": model, "messages": messages, "tools": WEATHER})  # fmt: skip

    response = count("fakeai/gpt-4o")  # OpenAI's API has no counter
    assert response.status_code == 200 and response.headers["x-token-count"] == "estimated"
    bigger = count("fakeai/gpt-4o", [{"role": "user", "content": "Hi " * 400}])
    assert 0 < response.json()["input_tokens"] < bigger.json()["input_tokens"]
    fake_anthropic.reply = Reply(status=500)
    response = count("anthropic/claude-sonnet-4-5")
    assert response.status_code == 200 and response.headers["x-token-count"] == "estimated"
    assert response.json()["input_tokens"] > 20  # "Hi", its framing and a tool definition


def test_it_refuses_to_count_for_an_unknown_model(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="nope-1", messages=HELLO)


def test_it_lists_models_in_anthropics_shape(client, setup):
    models = list(client.models.list(limit=3))  # the SDK follows has_more / last_id
    ids = [m.id for m in models]
    assert "anthropic/claude-sonnet-4-5" in ids and "google/gemini-2.5-flash" in ids and len(ids) == len(set(ids))
    assert len(ids) > 3 and all(m.type == "model" and m.display_name == m.id for m in models)
    assert client.models.retrieve("gemini-2.5-flash").id == "gemini-2.5-flash"
    url, token = setup
    page = httpx2.get(f"{url}/v1/models", params={"limit": 2}, headers={"x-api-key": token,
                      "anthropic-version": "2023-06-01"}).json()  # fmt: skip
    assert set(page) == {"data", "has_more", "first_id", "last_id"} and page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (page["data"][0]["id"], page["data"][1]["id"])
    assert page["data"][0]["created_at"].endswith("Z")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("gpt-4o")  # ambiguous: not listed bare
    openai_shape = httpx2.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {token}"}).json()
    assert openai_shape["object"] == "list"


# --- any body: a ChatCall or invalid_request, never anything else ---------------------------------

_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["type", "text", "role", "content", "source", "id", "name", "input", "tool_use_id",
                     "media_type", "data", "url", "input_schema"]), inner, max_size=4), max_leaves=12)  # fmt: skip
_blocks = st.lists(st.fixed_dictionaries({"type": st.sampled_from(
    ["text", "image", "tool_use", "tool_result", "thinking", "document", "other"])}, optional={
    "text": _json, "source": _json, "id": _json, "name": _json, "input": _json, "tool_use_id": _json,
    "content": _json}), max_size=4)  # fmt: skip
_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["fakeai/gpt-4o", "", 3]), "max_tokens": st.sampled_from([1, 0, "9", None])},
    optional={
        "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", 1]),
                                                    "content": _blocks | _json}), max_size=3),
        "system": _json, "tools": _json, "tool_choice": _json, "stop_sequences": _json, "metadata": _json,
        "temperature": _json, "stream": _json,
    },
)  # fmt: skip


@given(body=_bodies)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_it_reads_any_body_as_a_call_or_an_invalid_request(body):
    try:
        request = parse_messages(body)
    except ApiError as error:
        assert error.type == "invalid_request" and error.context["errors"]
        return
    errors = Errors()
    checks.messages(request.call.messages, errors)  # what the providers read: OpenAI's valid messages
    checks.tools(request.call.tools, errors)
    assert not errors.items, errors.items


def test_it_answers_as_its_openapi_description_says(setup, fake_openai):
    url, token = setup
    schema = served_schema(url)
    item = schema["components"]["schemas"]["AnthropicMessageStreamItem"]["oneOf"]
    by_event = {
        branch["properties"]["event"]["const"]: branch["properties"]["data"]["contentSchema"] for branch in item
    }
    fake_openai.reply = Reply(text=["Hi"], tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    body = {"model": "fakeai/gpt-4o", "max_tokens": 50, "messages": HELLO, "tools": WEATHER}
    for name, data in events(url, token, body):
        _validator(schema, by_event[name]).validate(data)
    answer = httpx2.post(f"{url}/v1/messages", json=body, headers={"x-api-key": token}, timeout=20).json()
    _validator(schema, {"$ref": "#/components/schemas/AnthropicMessage"}).validate(answer)
    assert [block["type"] for block in answer["content"]] == ["text", "tool_use"]
