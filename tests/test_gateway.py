"""The OpenAI-compatible gateway (/v1/models, /v1/chat/completions), driven by the official
``openai`` SDK over a real ASGI server, against the fake upstreams of every endpoint type."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai
import pytest

from tests.fakes.server import Fault, Reply, ToolCall
from tests.helpers import make_user, recorded, seed
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  azureOpenAI:
    groups:
      - group: east
        apiKey: test-key
        instanceName: east
        baseURL: '{azure}/openai/deployments/${{DEPLOYMENT_NAME}}'
        version: '2024-10-21'
        models:
          gpt-4o: {{deploymentName: gpt4o-prod}}
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo', {{name: 'flaky', fallbacks: ['anthropic/claude-sonnet-4-5']}}]
"""

#: (model as the client sends it, the fake that answers): one per endpoint type.
ENDPOINTS = [
    pytest.param("fakeai/gpt-4o", "fake_openai", id="custom"),
    pytest.param("anthropic/claude-sonnet-4-5", "fake_anthropic", id="anthropic"),
    pytest.param("google/gemini-2.5-flash", "fake_google", id="google"),
    pytest.param("azureOpenAI/gpt-4o", "fake_azure", id="azureOpenAI"),
    pytest.param("openAI/gpt-4o", "fake_openai", id="openAI"),
]
HELLO = [{"role": "user", "content": "Hi"}]
WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def gateway(settings, fake_openai, fake_anthropic, fake_google, fake_azure, asgi_server):
    """The SDK client of a user, with custom, openAI, anthropic, google and azureOpenAI endpoints."""
    urls = {"OPENAI_REVERSE_PROXY": fake_openai.base_url, "ANTHROPIC_REVERSE_PROXY": fake_anthropic.base_url,
            "GOOGLE_REVERSE_PROXY": fake_google.base_url}  # fmt: skip
    env = {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}",
           "GOOGLE_KEY": "${GOOGLE_KEY}", "GOOGLE_MODELS": "gemini-2.5-flash", **urls}  # fmt: skip
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = {"OPENAI_API_KEY": "test-key", "ANTHROPIC_API_KEY": "test-key", "GOOGLE_KEY": "test-key",
                        **urls}  # fmt: skip
    seed(CONFIG.format(openai=fake_openai.base_url, azure=fake_azure.url), env=env)
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user())
    return openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=token.key, max_retries=0, timeout=20)


def fake(request: pytest.FixtureRequest, name: str) -> Any:
    return request.getfixturevalue(name)


# --- models -----------------------------------------------------------------------------


def test_it_lists_every_model_as_endpoint_slash_id_and_the_unambiguous_bare_ids(gateway):
    models = {m.id: m for m in gateway.models.list()}
    for model_id in ("fakeai/gpt-4o", "fakeai/gpt-3.5-turbo", "openAI/o3-mini", "anthropic/claude-sonnet-4-5",
                     "google/gemini-2.5-flash", "azureOpenAI/gpt-4o"):  # fmt: skip
        assert model_id in models
    assert models["fakeai/gpt-4o"].object == "model"
    assert models["fakeai/gpt-4o"].owned_by == "fakeai"
    assert isinstance(models["fakeai/gpt-4o"].created, int)
    # offered by exactly one endpoint: listed bare too; gpt-4o is offered by three
    assert models["gemini-2.5-flash"].owned_by == "google"
    assert models["o3-mini"].owned_by == "openAI"
    assert models["gpt-3.5-turbo"].owned_by == "fakeai"
    assert "gpt-4o" not in models


def test_it_answers_the_raw_list_in_openai_shape(gateway):
    response = httpx2.get(f"{gateway.base_url}models", headers={"Authorization": f"Bearer {gateway.api_key}"})
    body = response.json()
    assert response.status_code == 200 and body["object"] == "list"
    assert set(body) == {"object", "data"}
    assert set(body["data"][0]) == {"id", "object", "created", "owned_by"}


def test_it_retrieves_one_model(gateway):
    assert gateway.models.retrieve("google/gemini-2.5-flash").owned_by == "google"
    with pytest.raises(openai.NotFoundError):
        gateway.models.retrieve("gpt-4o")  # ambiguous: not listed bare


# --- completions ------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_answers_a_completion_with_usage(gateway, request, model, upstream):
    answer = gateway.chat.completions.create(model=model, messages=HELLO)
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.model == model
    assert isinstance(answer.created, int)
    choice = answer.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant" and choice.message.content == "Hello, world!"
    assert choice.message.tool_calls is None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (12, 7, 19)
    assert fake(request, upstream).last.method == "POST"
    record = recorded()
    assert (record.via, record.status, record.prompt_tokens, record.completion_tokens) == ("gateway", "ok", 12, 7)
    assert model == f"{record.answered_endpoint}/{record.answered_model}"
    assert answer.id == "chatcmpl-" + record.request_id.removeprefix("req_")


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_streams_chunks_with_a_usage_chunk(gateway, model, upstream):
    chunks = list(
        gateway.chat.completions.create(
            model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {model}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world!"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert [c.choices[0].finish_reason for c in chunks[:-2]] == [None] * (len(chunks) - 2)
    usage = chunks[-1]
    assert usage.choices == [] and (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (12, 7)
    assert usage.usage.total_tokens == 19
    record = recorded()
    assert (record.via, record.status, record.completion_tokens) == ("gateway", "ok", 7)


def test_it_sends_no_usage_chunk_unless_asked_and_ends_with_done(gateway):
    url = f"{gateway.base_url}chat/completions"
    body = {"model": "fakeai/gpt-4o", "messages": HELLO, "stream": True}
    response = httpx2.post(url, json=body, headers={"Authorization": f"Bearer {gateway.api_key}"}, timeout=20)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = response.text.strip().split("\n\n")
    assert frames[-1] == "data: [DONE]"
    chunks = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-1]]
    assert all(len(c["choices"]) == 1 and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0] == {
        "index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None,
    }  # fmt: skip
    assert chunks[-1]["choices"][0]["delta"] == {} and chunks[-1]["system_fingerprint"] is None
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_returns_tool_calls(gateway, request, model, upstream):
    fake(request, upstream).reply = Reply(text=[], tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="c1")])
    answer = gateway.chat.completions.create(model=model, messages=HELLO, tools=WEATHER, tool_choice="auto")
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_streams_tool_calls(gateway, request, model, upstream):
    calls = [ToolCall("get_weather", {"city": "Paris"}, id="c1"), ToolCall("get_time", {"tz": "CET"}, id="c2")]
    fake(request, upstream).reply = Reply(text=[], tool_calls=calls)
    chunks = list(gateway.chat.completions.create(model=model, messages=HELLO, tools=WEATHER, stream=True))
    fragments = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    by_index: dict[int, list[Any]] = {}
    for fragment in fragments:
        by_index.setdefault(fragment.index, []).append(fragment)
    assert sorted(by_index) == [0, 1]
    for index, (name, arguments) in enumerate([("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]):
        first, *rest = by_index[index]
        assert first.id and first.type == "function" and first.function.name == name
        assert all(f.id is None and f.function.name is None for f in rest)
        assert json.loads("".join(f.function.arguments or "" for f in by_index[index])) == arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("model", "upstream", "image_of"),
    [
        pytest.param("fakeai/gpt-4o", "fake_openai", lambda body: body["messages"][0]["content"][1], id="custom"),
        pytest.param(
            "anthropic/claude-sonnet-4-5", "fake_anthropic",
            lambda body: body["messages"][0]["content"][1]["source"], id="anthropic",
        ),
        pytest.param(
            "google/gemini-2.5-flash", "fake_google",
            lambda body: body["contents"][0]["parts"][1], id="google",
        ),
    ],
)  # fmt: skip
def test_it_passes_an_image_part_to_a_vision_model(gateway, request, model, upstream, image_of):
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    gateway.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    image = image_of(fake(request, upstream).last.json)
    assert PIXEL.split(",", 1)[1] in json.dumps(image)


def test_it_refuses_an_image_for_a_model_without_vision(gateway):
    content = [{"type": "image_url", "image_url": {"url": PIXEL}}]
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.chat.completions.create(model="fakeai/gpt-3.5-turbo", messages=[{"role": "user", "content": content}])
    assert raised.value.code == "invalid_request"


def test_it_passes_parameters_and_unknown_ones_through(gateway, fake_openai):
    gateway.chat.completions.create(
        model="fakeai/gpt-4o", messages=HELLO, temperature=0.3, top_p=0.9, max_completion_tokens=50, stop="END",
        response_format={"type": "json_object"}, seed=7, user="end-user-1", extra_body={"presence_penalty": 0.5},
    )  # fmt: skip
    sent = fake_openai.last.json
    assert (sent["model"], sent["temperature"], sent["top_p"], sent["max_tokens"]) == ("gpt-4o", 0.3, 0.9, 50)
    assert sent["stop"] == ["END"] and sent["response_format"] == {"type": "json_object"}
    assert (sent["seed"], sent["presence_penalty"]) == (7, 0.5)


def test_it_routes_an_unambiguous_bare_model(gateway, fake_google):
    answer = gateway.chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    assert answer.model == "google/gemini-2.5-flash"
    assert fake_google.last.path == "/v1beta/models/gemini-2.5-flash:generateContent"  # not streamed: exact usage


def test_it_refuses_an_ambiguous_bare_model_naming_the_candidates(gateway):
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.chat.completions.create(model="gpt-4o", messages=HELLO)
    error = raised.value
    assert (error.code, error.type, error.param) == ("invalid_request", "invalid_request_error", "model")
    for candidate in ("fakeai/gpt-4o", "openAI/gpt-4o", "azureOpenAI/gpt-4o"):
        assert candidate in error.message
    assert recorded().error_type == "invalid_request"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fakeai/gpt-4o", "messages": HELLO, "n": 2}, "n"),
        ({"model": "fakeai/gpt-4o", "messages": []}, "messages"),
        ({"model": "fakeai/gpt-4o", "messages": HELLO, "temperature": 3}, "temperature"),
        ({"model": "", "messages": HELLO}, "model"),
    ],
)
def test_it_refuses_invalid_requests_naming_the_field(gateway, body, param):
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.chat.completions.create(**body)
    assert (raised.value.code, raised.value.param) == ("invalid_request", param)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "upstream"), [*ENDPOINTS, pytest.param("nope-1", "fake_openai", id="bare")])
def test_it_raises_not_found_for_an_unknown_model(gateway, model, upstream):
    unknown = model.split("/")[0] + "/nope-1" if "/" in model else model
    with pytest.raises(openai.NotFoundError) as raised:
        gateway.chat.completions.create(model=unknown, messages=HELLO)
    assert (raised.value.code, raised.value.type) == ("model_not_available", "invalid_request_error")
    record = recorded()
    assert (record.via, record.error_type) == ("gateway", "model_not_available")


def test_it_raises_an_authentication_error_for_a_bad_token(gateway):
    client = gateway.with_options(api_key="not-a-token")
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="fakeai/gpt-4o", messages=HELLO)
    assert raised.value.type == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
@pytest.mark.parametrize("stream", [False, True])
def test_it_raises_a_rate_limit_error_when_the_upstream_rate_limits(gateway, request, model, upstream, stream):
    fake(request, upstream).reply = Reply(status=429, retry_after="7")
    with pytest.raises(openai.RateLimitError) as raised:
        gateway.chat.completions.create(model=model, messages=HELLO, stream=stream)
    error = raised.value
    assert (error.status_code, error.code, error.type) == (429, "upstream_rate_limited", "rate_limit_error")
    assert error.response.headers["retry-after"] == "7"
    assert "test-key" not in error.response.text


@pytest.mark.parametrize(("model", "upstream"), ENDPOINTS)
def test_it_raises_a_502_when_the_upstream_fails(gateway, request, model, upstream):
    fake(request, upstream).reply = Reply(status=500)
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.chat.completions.create(model=model, messages=HELLO)
    assert (raised.value.status_code, raised.value.code, raised.value.type) == (502, "upstream_error", "api_error")
    assert recorded().status == "error"


def test_it_names_the_fallback_that_answered(gateway, fake_openai, fake_anthropic):
    fake_openai.models = None
    fake_openai.reply = Reply(status=503)
    answer = gateway.chat.completions.create(model="fakeai/flaky", messages=HELLO)
    assert answer.model == "anthropic/claude-sonnet-4-5"
    assert answer.choices[0].message.content == "Hello, world!"
    record = recorded()
    assert (record.endpoint, record.model, record.answered_endpoint) == ("fakeai", "flaky", "anthropic")


def test_it_records_usage_when_the_client_goes_away(gateway, fake_openai):
    fake_openai.reply = Reply(text=["tick"] * 50, delay=0.1)
    with gateway.chat.completions.create(model="fakeai/gpt-4o", messages=HELLO, stream=True) as stream:
        next(iter(stream))
    deadline = time.monotonic() + 10
    while recorded().status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    record = recorded()
    assert (record.via, record.status) == ("gateway", "client_aborted")
    assert fake_openai.last.disconnected


def test_it_ends_a_broken_stream_with_an_error_line(gateway, fake_openai):
    fake_openai.reply = Reply(fault=Fault.RESET, after=2)
    stream = gateway.chat.completions.create(model="fakeai/gpt-4o", messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert received and raised.value.code == "upstream_error"
    record = recorded()
    assert (record.via, record.status) == ("gateway", "error")


def test_it_answers_errors_in_openai_shape(gateway):
    response = httpx2.post(f"{gateway.base_url}chat/completions", content=b"{not json",
                           headers={"Authorization": f"Bearer {gateway.api_key}"})  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_request")
    response = httpx2.get(f"{gateway.base_url}chat/completions", headers={"Authorization": f"Bearer {gateway.api_key}"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


# --- the async client -------------------------------------------------------------------


async def test_it_works_with_the_async_client(gateway):
    client = openai.AsyncOpenAI(base_url=str(gateway.base_url), api_key=gateway.api_key, max_retries=0, timeout=20)
    async with client:
        answer = await client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=HELLO)
        assert answer.choices[0].message.content == "Hello, world!"
        stream = await client.chat.completions.create(
            model="google/gemini-2.5-flash", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world!"
        assert chunks[-1].usage.total_tokens == 19
        assert [m.id async for m in client.models.list()]
