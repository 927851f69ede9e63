"""The Azure OpenAI adapter (instance, base URL with placeholders, serverless) against the fake
Azure resource."""

from __future__ import annotations

from typing import Any

import pytest

from endpoints.providers import azure, get_provider
from endpoints.providers.base import ChatRequest, Done, Target, TextDelta, Usage
from endpoints.providers.errors import ProviderError
from tests.fakes import Reply
from tests.fakes.consume import collect, failure

pytest_plugins = ["tests.fakes.fixtures"]
pytestmark = pytest.mark.usefixtures("close_upstream_clients")

KEY = "test-key"
HELLO = [{"role": "user", "content": "Hello?"}]


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
