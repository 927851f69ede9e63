"""Model lists fetched from upstreams, over real HTTP to the fakes (issue 2, item 5)."""

from __future__ import annotations

import logging

import pytest

from core import memo
from endpoints.catalog.modelfetch import openai_filter
from tests.helpers import make_user, seed, token_client

pytestmark = pytest.mark.django_db

CUSTOM = """
version: 1.3.14
endpoints:
  custom:
    - name: a
      apiKey: test-key
      baseURL: '{url}///'
      models: {{default: ['fallback-a'], fetch: true}}
    - name: b
      apiKey: test-key
      baseURL: '{url}'
      models: {{default: ['fallback-b'], fetch: true{extra}}}
"""


@pytest.fixture
def api(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    return token_client(make_user())


def _model_requests(fake) -> list:
    return [r for r in fake.requests if r.method == "GET" and r.path.endswith("/models")]


def test_it_lists_fetched_models_with_the_key_and_no_trailing_slashes(api, fake_openai):
    fake_openai.models = ["m1", "m2"]
    seed(CUSTOM.format(url=fake_openai.base_url, extra=""))
    models = api.get("/api/models").json()
    assert models["a"] == ["m1", "m2"] and models["b"] == ["m1", "m2"]
    requests = _model_requests(fake_openai)
    assert requests[0].path == "/v1/models"
    assert requests[0].headers["authorization"] == "Bearer test-key"


def test_it_fetches_once_for_endpoints_sharing_url_and_key_and_caches_it(api, fake_openai):
    fake_openai.models = ["m1"]
    seed(CUSTOM.format(url=fake_openai.base_url, extra=""))
    api.get("/api/models")
    api.get("/api/models")
    api.get("/api/endpoints")
    assert len(_model_requests(fake_openai)) == 1


def test_it_falls_back_to_the_configured_list_when_the_upstream_fails(api, fake_openai, caplog):
    fake_openai.models = ["m1"]
    seed(CUSTOM.format(url=fake_openai.base_url, extra=""))
    fake_openai.api_key = "another-key"  # the upstream refuses ours
    with caplog.at_level(logging.WARNING, logger="endpoints.catalog.modelfetch"):
        models = api.get("/api/models").json()
    assert models["a"] == ["fallback-a"] and models["b"] == ["fallback-b"]
    assert "using the configured list" in caplog.text
    assert "test-key" not in caplog.text
    # A failure is not cached: the next request asks again and gets the list (once the read
    # API's one-second response memo has passed).
    fake_openai.api_key = "test-key"
    memo.clear()
    assert api.get("/api/models").json()["a"] == ["m1"]


def test_it_does_not_cache_an_empty_list(api, fake_openai):
    fake_openai.models = []
    seed(CUSTOM.format(url=fake_openai.base_url, extra=""))
    assert api.get("/api/models").json()["a"] == ["fallback-a"]
    fake_openai.models = ["m9"]
    memo.clear()  # past the read API's one-second response memo
    assert api.get("/api/models").json()["a"] == ["m9"]


def test_it_falls_back_when_nothing_listens(api, refused_url):
    seed(CUSTOM.format(url=refused_url, extra=""))
    models = api.get("/api/models").json()
    assert models == {"a": ["fallback-a"], "b": ["fallback-b"]}


def test_it_asks_with_the_user_id_when_configured(api, fake_openai):
    fake_openai.models = ["m1"]
    seed(CUSTOM.format(url=fake_openai.base_url, extra=", userIdQuery: true"))
    api.get("/api/models")
    queries = [r.query for r in _model_requests(fake_openai)]
    from django.contrib.auth import get_user_model

    user_id = str(get_user_model().objects.get(username="alice").pk)
    assert {"user": user_id} in queries, "models.userIdQuery adds ?user=<id>"


def test_it_lists_anthropic_models_with_its_headers(api, settings, fake_anthropic):
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_REVERSE_PROXY": fake_anthropic.base_url}
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = env
    seed("version: 1.3.14\n", env=env)
    models = api.get("/api/models").json()["anthropic"]
    request = _model_requests(fake_anthropic)[0]
    assert request.path == "/v1/models"
    assert request.headers["x-api-key"] == "test-key" and "anthropic-version" in request.headers
    assert models and all(isinstance(m, str) for m in models)


def test_it_keeps_openai_chat_models_and_puts_instruct_models_last():
    listed = [
        "gpt-3.5-turbo-instruct", "gpt-4o", "gpt-4o-audio-preview", "gpt-4o-realtime-preview", "dall-e-3",
        "whisper-1", "o1", "o3-mini", "text-embedding-3-small", "gpt-image-1", "gpt-4.1",
    ]  # fmt: skip
    assert openai_filter(listed) == ["gpt-4o", "o1", "o3-mini", "gpt-4.1", "gpt-3.5-turbo-instruct"]


def test_it_lists_a_user_provided_endpoint_with_the_callers_own_key_uncached(api, fake_openai):
    from django.contrib.auth import get_user_model

    from endpoints.keys.store import set_key

    fake_openai.models = ["m1"]
    fake_openai.api_key = "sk-alice-own"
    seed(
        "version: 1.3.14\nendpoints:\n  custom:\n"
        f"    - {{name: byok, apiKey: user_provided, baseURL: '{fake_openai.base_url}', "
        "models: {default: ['fallback-byok'], fetch: true}}\n"
    )
    assert api.get("/api/models").json()["byok"] == ["fallback-byok"]  # no key yet
    set_key(get_user_model().objects.get(username="alice"), "byok", '{"apiKey": "sk-alice-own"}', None)
    memo.clear()  # past the read API's one-second response memo
    assert api.get("/api/models").json()["byok"] == ["m1"]
    memo.clear()
    api.get("/api/models")
    with_key = [r for r in _model_requests(fake_openai) if r.headers["authorization"] == "Bearer sk-alice-own"]
    assert len(with_key) == 2  # asked each time: a user's key never goes through the shared cache
