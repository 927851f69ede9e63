"""The API's OpenAPI 3.1 description (/api/schema/, /api/docs/) is valid and true.

Schemathesis generates requests for every operation from the served schema and sends them to
the live ASGI app (tests/live.py), authenticated with a token: no answer may be a 5xx, and
every answer must match its documented status, content type and schema.  Hypothesis runs
derandomized with a bounded number of examples, so the run is repeatable and short.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import jsonschema
import pytest
import schemathesis
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core.openapi import errors
from tests.fakes import Fault, Reply
from tests.helpers import make_user, seed

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 60
CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - {{name: fakeai, apiKey: test-key, baseURL: '{url}', models: {{default: ['gpt-4o', 'gpt-4o-mini']}}}}
"""


def served_schema(url: str) -> dict[str, Any]:
    response = httpx2.get(f"{url}/api/schema/", params={"format": "json"}, timeout=20)
    assert response.status_code == 200
    return response.json()


def test_it_serves_a_valid_openapi_3_1_schema_with_every_route_and_error(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.1")
    validate_schema(schema)  # the OpenAPI 3.1 meta-schema
    for name, component in schema["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(component)
        except jsonschema.SchemaError as exc:
            raise AssertionError(f"components.schemas.{name}: {exc.message}") from None
    for path in ("/api/endpoints", "/api/models", "/api/models/details", "/api/keys", "/api/tokens", "/api/usage",
                 "/api/chat", "/v1/models", "/v1/chat/completions", "/v1/messages",
                 "/v1/messages/count_tokens"):  # fmt: skip
        assert path in schema["paths"], path
    for kind in errors.ERRORS:
        assert errors.component_name(kind) in schema["components"]["schemas"], kind
    chat = schema["paths"]["/api/chat"]["post"]["responses"]
    assert set(chat["200"]["content"]) == {"text/event-stream", "application/json"}
    assert set(event_schemas(schema)) == {"created", "fallback", "step", "delta", "final", "requires_action", "error"}


def event_schemas(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema of each /api/chat SSE event's data, by event name (from ChatEventStreamItem)."""
    item = schema["components"]["schemas"]["ChatEventStreamItem"]
    return {b["properties"]["event"]["const"]: b["properties"]["data"]["contentSchema"] for b in item["oneOf"]}


def test_it_renders_the_docs_page_from_local_files_only(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui-bundle" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn." not in page and "https://" not in page.split("<body")[1]


# --- the hand-written fragment matches what the consumers send ------------------------------


def _validator(schema: dict[str, Any], part: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """Validates against ``part`` of the served schema, its ``#/components/…`` references resolved there."""
    registry = Registry().with_resource("urn:api", DRAFT202012.create_resource(schema))
    bound = json.loads(json.dumps(part).replace('"#/components/', '"urn:api#/components/'))
    return jsonschema.Draft202012Validator(bound, registry=registry)


def _frames(body: str) -> list[tuple[str, str]]:
    frames = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        frames.append((fields.get("event", "message"), fields.get("data", "")))
    return frames


@pytest.fixture
def live_api(settings, fake_openai, asgi_server):
    """The live app with a custom endpoint and openAI (the schema's examples) on the fake OpenAI."""
    env = {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "OPENAI_REVERSE_PROXY": fake_openai.base_url,
           "OPENAI_MODELS": "gpt-4o-mini"}  # fmt: skip
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = {"OPENAI_API_KEY": "test-key", "OPENAI_REVERSE_PROXY": fake_openai.base_url}
    seed(CONFIG.format(url=fake_openai.base_url), env=env)
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user("alice"))
    return asgi_server.url, {"Authorization": f"Bearer {token.key}"}


@pytest.mark.parametrize("reply", [Reply(), Reply(fault=Fault.ERROR_EVENT, after=3)], ids=["final", "error"])
def test_it_describes_every_event_that_a_streamed_chat_sends(live_api, fake_openai, reply):
    url, auth = live_api
    schema = served_schema(url)
    events = event_schemas(schema)
    fake_openai.reply = reply
    body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    answer = httpx2.post(f"{url}/api/chat", json=body, headers=auth, timeout=20)
    assert answer.headers["content-type"].startswith("text/event-stream")
    seen = []
    for event, data in _frames(answer.text):
        _validator(schema, events[event]).validate(json.loads(data))
        seen.append(event)
    assert seen[0] == "created" and "delta" in seen and seen[-1] == ("final" if reply.fault is None else "error")


def test_it_describes_the_gateway_stream_chunks(live_api):
    url, auth = live_api
    schema = served_schema(url)
    item = schema["components"]["schemas"]["OpenAIChatCompletionStreamItem"]["properties"]["data"]
    chunk = next(branch["contentSchema"] for branch in item["anyOf"] if "contentSchema" in branch)
    body = {"model": "fakeai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    answer = httpx2.post(f"{url}/v1/chat/completions", json=body, headers=auth, timeout=20)
    chunks = [data for _event, data in _frames(answer.text)]
    assert chunks[-1] == "[DONE]"
    for data in chunks[:-1]:
        _validator(schema, chunk).validate(json.loads(data))


# --- Schemathesis -----------------------------------------------------------------------------


CALLS: dict[str, int] = {}  # requests sent per operation (printed at the end: run with -s to see it)


@pytest.fixture
def api_schema(settings_override, live_api):
    url, _auth = live_api
    started = time.monotonic()
    yield schemathesis.openapi.from_url(f"{url}/api/schema/?format=json")
    print(f"\nSchemathesis: {sum(CALLS.values())} requests to {len(CALLS)} operations in "
          f"{time.monotonic() - started:.1f} s: {CALLS}")  # fmt: skip


@pytest.fixture
def settings_override(settings):
    settings.LIMIT_MESSAGE_IP = False  # hundreds of chats a minute: our limits are tested elsewhere
    return settings


schema = schemathesis.pytest.from_fixture("api_schema")


#: Operations whose inputs mean more than a schema can say (the name of an endpoint that exists, an
#: opaque cursor, an expiry still in the future, a period whose end follows its start): a request
#: that fits the schema may rightly be refused with 400 there, so Schemathesis's check that
#: schema-valid data is accepted does not apply.  Every other check does.
SEMANTIC = {"PUT /api/keys", "POST /api/tokens", "GET /api/usage", "GET /api/usage/summary", "POST /api/chat",
            "POST /v1/chat/completions", "POST /v1/messages", "POST /v1/messages/count_tokens",
            "GET /v1/models"}  # fmt: skip


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_it_answers_every_generated_request_as_documented(case, live_api, fake_openai):
    _url, auth = live_api
    excluded = [positive_data_acceptance] if case.operation.label in SEMANTIC else []
    case.call_and_validate(headers=auth, excluded_checks=excluded)
    CALLS[case.operation.label] = CALLS.get(case.operation.label, 0) + 1


# --- what Schemathesis found, kept fixed --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": {}, "content": "Hi"}]}),
        ("/api/chat", {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": {}}]}]}),
        ("/api/chat", {"endpoint": "fakeai", "model": "gpt-4o",
                       "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": []}]}]}),
        ("/api/chat", {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
                       "parameters": []}),
        ("/v1/chat/completions", {"model": "fakeai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
                                  "response_format": {"type": {}}}),
    ],
)  # fmt: skip
def test_it_refuses_unhashable_or_misshapen_fields_with_400_not_500(live_api, path, body):
    url, auth = live_api
    answer = httpx2.post(f"{url}{path}", json=body, headers=auth, timeout=20)
    assert answer.status_code == 400, answer.text


def test_it_accepts_a_forced_tool_choice_on_the_gateway(live_api):
    url, auth = live_api
    body = {"model": "fakeai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}}  # fmt: skip
    answer = httpx2.post(f"{url}/v1/chat/completions", json=body, headers=auth, timeout=20)
    assert answer.status_code == 200, answer.text


def test_it_says_which_methods_are_allowed_and_answers_unknown_api_paths_in_json(live_api):
    url, auth = live_api
    for path, allowed in [("/api/chat", "POST"), ("/v1/models", "GET"), ("/v1/chat/completions", "POST")]:
        answer = httpx2.request("TRACE", f"{url}{path}", headers=auth, timeout=20)
        assert answer.status_code == 405 and answer.headers["allow"] == allowed, path
    assert httpx2.get(f"{url}/api/nothing/here", headers=auth).json()["type"] == "not_found"
    assert httpx2.get(f"{url}/api/tokens/null", headers=auth).json()["type"] == "not_found"
    assert httpx2.put(f"{url}/api/keys", content=b"name=x", headers={**auth, "content-type":
                      "application/x-www-form-urlencoded"}).json()["type"] == "unsupported_media_type"  # fmt: skip
