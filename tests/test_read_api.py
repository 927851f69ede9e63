from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import Endpoint, EndpointModel
from tests.helpers import make_user, seed, token_client

pytestmark = pytest.mark.django_db

BASIC = """
version: 1.3.14
endpoints:
  custom:
    - name: groq
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      models:
        default: ['llama3-70b-8192', {name: 'mixtral-8x7b-32768', contextWindow: 32768, fallbacks: ['Mine/m1']}]
      modelDisplayLabel: 'groq'
      iconURL: 'https://example.com/groq.png'
    - name: Mine
      apiKey: user_provided
      baseURL: user_provided
      models:
        default: ['m1']
"""
ENV = {"OPENAI_API_KEY": "sk-test", "OPENAI_MODELS": "gpt-4o, gpt-4o-mini", "ANTHROPIC_API_KEY": "user_provided"}


@pytest.fixture
def api(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.ENVIRON = {"GROQ_API_KEY": "gsk-test", "OPENAI_API_KEY": "sk-test"}
    seed(BASIC, env=ENV)
    return token_client(make_user())


def test_it_rejects_anonymous_requests_with_a_json_401(client):
    response = client.get("/api/endpoints")
    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_it_accepts_token_and_bearer_and_session(api, client):
    user = make_user("bob")
    assert token_client(user, "Token").get("/api/models").status_code == 200
    assert token_client(user, "Bearer").get("/api/models").status_code == 200
    client.force_login(user)
    assert client.get("/api/models").status_code == 200


def test_it_lists_endpoints_in_librechats_shape(api):
    data = api.get("/api/endpoints").json()
    assert list(data) == ["openAI", "anthropic", "groq", "Mine"]
    assert data["openAI"] == {"userProvide": False, "order": 0, "models": ["gpt-4o", "gpt-4o-mini"]}
    assert data["anthropic"]["userProvide"] is True
    assert data["anthropic"]["order"] == 6
    assert data["groq"] == {
        "type": "custom",
        "userProvide": False,
        "userProvideURL": False,
        "order": 9999,
        "modelDisplayLabel": "groq",
        "iconURL": "https://example.com/groq.png",
        "models": ["llama3-70b-8192", "mixtral-8x7b-32768"],
    }
    assert data["Mine"]["userProvide"] is True and data["Mine"]["userProvideURL"] is True


def test_it_answers_one_endpoint_and_404s_unknown_ones(api):
    assert api.get("/api/endpoints/groq").json()["order"] == 9999
    response = api.get("/api/endpoints/nope")
    assert response.status_code == 404
    assert response.json() == {
        "type": "endpoint_not_found",
        "message": "There is no enabled endpoint named 'nope'.",
        "endpoint": "nope",
    }


def test_it_orders_and_filters_by_the_endpoints_variable(api, settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV, "ENDPOINTS": "anthropic, custom,openAI"}
    data = api.get("/api/endpoints").json()
    assert [(name, data[name]["order"]) for name in data] == [
        ("anthropic", 0),
        ("groq", 1),
        ("Mine", 1),
        ("openAI", 2),
    ]


def test_it_hides_built_in_endpoints_whose_key_variable_is_unset_but_lists_custom_ones(api, settings):
    settings.ENVIRON = {}
    data = api.get("/api/models").json()
    assert "openAI" not in data  # enabled by OPENAI_API_KEY, as in LibreChat
    assert "groq" in data and "Mine" in data  # LibreChat lists custom endpoints whatever their ${VAR}


def test_it_hides_disabled_endpoints_and_models(api):
    Endpoint.objects.filter(name="groq").update(enabled=False)
    EndpointModel.objects.filter(model_id="gpt-4o").update(enabled=False)
    from endpoints.catalog.snapshot import bump_version

    bump_version()
    data = api.get("/api/models").json()
    assert "groq" not in data
    assert data["openAI"] == ["gpt-4o-mini"]


def test_it_gives_the_same_models_in_both_apis(api):
    endpoints = api.get("/api/endpoints").json()
    models = api.get("/api/models").json()
    assert {name: value["models"] for name, value in endpoints.items()} == models


def test_it_describes_models_in_detail(api):
    details = api.get("/api/models/details").json()
    gpt = next(m for m in details["openAI"] if m["id"] == "gpt-4o")
    assert gpt["context_window"] == 128000
    assert gpt["capabilities"] == {"vision": True, "tools": True, "streaming": True}
    assert gpt["pricing"]["source"] == "genai-prices"
    assert gpt["pricing"]["prompt"] == 2.5 and gpt["pricing"]["completion"] == 10
    mixtral = next(m for m in details["groq"] if m["id"] == "mixtral-8x7b-32768")
    assert mixtral["context_window"] == 32768
    assert mixtral["fallbacks"] == ["Mine/m1"]
    assert mixtral["pricing"]["source"] in ("genai-prices", "unknown")


def test_it_shows_an_edit_on_the_next_request(api):
    assert "gpt-4.1" not in api.get("/api/models").json()["openAI"]
    endpoint = Endpoint.objects.get(name="openAI")
    EndpointModel.objects.create(endpoint=endpoint, model_id="gpt-4.1", position=9)
    assert api.get("/api/models").json()["openAI"][-1] == "gpt-4.1"


def _queries(client, path: str) -> int:
    client.get(path)  # warm the snapshot
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def _many_endpoints(count: int) -> str:
    items = "\n".join(
        f"    - {{name: e{i}, apiKey: k, baseURL: 'http://127.0.0.1:9/v1', models: {{default: [a{i}, b{i}]}}}}"
        for i in range(count)
    )
    return f"version: '1'\nendpoints:\n  custom:\n{items}\n"


@pytest.mark.parametrize("path", ["/api/endpoints", "/api/models", "/api/models/details"])
def test_it_answers_with_a_constant_number_of_queries(settings, path):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    client = token_client(make_user())
    seed(_many_endpoints(3))
    few = _queries(client, path)
    seed(_many_endpoints(30))
    many = _queries(client, path)
    assert few == many
    assert few == 0  # token and configuration both come from the shared cache when warm


def test_it_forgets_a_deleted_token_at_once(api):
    from rest_framework.authtoken.models import Token

    assert api.get("/api/models").status_code == 200
    Token.objects.all().delete()
    assert api.get("/api/models").status_code == 401


def test_it_forgets_a_deactivated_user_at_once(api):
    from django.contrib.auth import get_user_model

    assert api.get("/api/models").status_code == 200
    user = get_user_model().objects.get(username="alice")
    user.is_active = False
    user.save()
    assert api.get("/api/models").status_code == 401


def test_it_lists_the_librechat_example_custom_endpoints_as_librechat_does(settings):
    from pathlib import Path

    example = Path(settings.BASE_DIR).parent / "shared" / "reference" / "librechat.example.yaml"
    if not example.is_file():
        pytest.skip(f"{example} is not here (it sits beside the repository in CI and sessions)")
    from endpoints.config import load_config
    from endpoints.config.seed import apply

    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.ENVIRON = {}
    apply(load_config(example, env={}))
    client = token_client(make_user())
    endpoints = client.get("/api/endpoints").json()
    models = client.get("/api/models").json()
    names = ["Claude-Compatible", "groq", "Mistral", "OpenRouter", "Helicone", "Portkey"]
    assert list(endpoints) == names
    for name in names:
        assert endpoints[name]["type"] == "custom" and endpoints[name]["order"] == 9999
        assert endpoints[name]["userProvide"] is False and endpoints[name]["userProvideURL"] is False
        assert models[name] == endpoints[name]["models"] and models[name]
    assert endpoints["Claude-Compatible"]["modelDisplayLabel"] == "Claude (Compatible)"
    assert models["groq"] == [
        "llama3-70b-8192",
        "llama3-8b-8192",
        "llama2-70b-4096",
        "mixtral-8x7b-32768",
        "gemma-7b-it",
    ]
    assert models["Mistral"] == ["mistral-tiny", "mistral-small", "mistral-medium"]  # fetch impossible: defaults
