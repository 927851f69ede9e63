"""``/api/keys`` case by case against LibreChat's ``api/server/routes/keys.js`` and
``packages/data-schemas/src/methods/key.ts`` (status codes, bodies, stored formats)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core import secrets
from endpoints.keys.store import context
from endpoints.models import UserKey
from tests.helpers import make_user, seed, token_client

pytestmark = pytest.mark.django_db

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: Mine
      apiKey: user_provided
      baseURL: user_provided
      models: {default: ['m1']}
    - name: groq
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1'
      models: {default: ['llama3']}
"""
ENV = {"OPENAI_API_KEY": "user_provided", "ANTHROPIC_API_KEY": "user_provided", "GOOGLE_KEY": "user_provided"}
PUBLIC = {"api.example.com": "93.184.215.14", "rebind.example.com": "93.184.215.15"}


@pytest.fixture(autouse=True)
def config(settings, monkeypatch):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    settings.ENVIRON = {"GROQ_API_KEY": "gsk-test"}
    seed(CONFIG, env=ENV)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: [PUBLIC[host]])


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    return token_client(alice)


def stored(user, name: str) -> str:
    row = UserKey.objects.get(user=user, endpoint=name)
    return secrets.decrypt(row.ciphertext, context=context(user.pk, name))


def openai_value(key: str = "sk-alice-0001", **extra: str) -> str:
    return json.dumps({"apiKey": key, **extra})


def test_it_stores_a_key_with_201_and_an_empty_body(api, alice):
    expires = "2099-01-31T12:00:00.000Z"
    response = api.put("/api/keys", {"name": "openAI", "value": openai_value(), "expiresAt": expires}, format="json")
    assert response.status_code == 201
    assert response.content == b""
    assert api.get("/api/keys", {"name": "openAI"}).json() == {"expiresAt": expires}
    assert stored(alice, "openAI") == '{"apiKey":"sk-alice-0001"}'
    assert UserKey.objects.get().hint == "…0001"


@pytest.mark.parametrize("expires", ["", None, "never", "absent"])
def test_it_reports_never_for_a_key_without_expiry(api, expires):
    body = {"name": "anthropic", "value": "sk-ant-123456789"}
    if expires != "absent":
        body["expiresAt"] = expires
    assert api.put("/api/keys", body, format="json").status_code == 201
    assert api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": "never"}


def test_it_takes_an_expiry_in_epoch_milliseconds_as_javascripts_date_does(api):
    moment = datetime(2099, 5, 1, 8, 30, tzinfo=UTC)
    body = {"name": "anthropic", "value": "sk-ant-123456789", "expiresAt": int(moment.timestamp() * 1000)}
    assert api.put("/api/keys", body, format="json").status_code == 201
    assert api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": "2099-05-01T08:30:00.000Z"}


def test_it_answers_null_for_a_key_that_is_not_set(api):
    assert api.get("/api/keys", {"name": "openAI"}).json() == {"expiresAt": None}
    assert api.get("/api/keys", {"name": "no-such-endpoint"}).json() == {"expiresAt": None}


def test_it_requires_a_name_to_read_an_expiry(api):
    response = api.get("/api/keys")
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_request"
    assert "name" in response.json()["errors"]


def test_it_replaces_a_key_in_place(api, alice):
    api.put("/api/keys", {"name": "openAI", "value": openai_value("sk-first-1111"), "expiresAt": ""}, format="json")
    later = "2099-02-01T00:00:00.000Z"
    body = {"name": "openAI", "value": openai_value("sk-second-2222"), "expiresAt": later}
    assert api.put("/api/keys", body, format="json").status_code == 201
    assert UserKey.objects.count() == 1
    assert UserKey.objects.get().hint == "…2222"
    assert stored(alice, "openAI") == '{"apiKey":"sk-second-2222"}'
    assert api.get("/api/keys", {"name": "openAI"}).json() == {"expiresAt": later}


def test_it_deletes_one_key_with_204_and_again_with_204(api):
    api.put("/api/keys", {"name": "anthropic", "value": "sk-ant-123456789"}, format="json")
    api.put("/api/keys", {"name": "openAI", "value": openai_value()}, format="json")
    response = api.delete("/api/keys/anthropic")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": None}
    assert api.get("/api/keys", {"name": "openAI"}).json() == {"expiresAt": "never"}
    # LibreChat's findOneAndDelete does not care whether there was a key, or an endpoint.
    assert api.delete("/api/keys/anthropic").status_code == 204
    assert api.delete("/api/keys/no-such-endpoint").status_code == 204


def test_it_deletes_all_keys_with_all_true(api):
    api.put("/api/keys", {"name": "anthropic", "value": "sk-ant-123456789"}, format="json")
    api.put("/api/keys", {"name": "openAI", "value": openai_value()}, format="json")
    response = api.delete("/api/keys?all=true")
    assert response.status_code == 204
    assert response.content == b""
    assert UserKey.objects.count() == 0


@pytest.mark.parametrize("query", ["", "?all=false", "?all=1", "?all=TRUE"])
def test_it_refuses_to_delete_all_without_all_true_as_librechat_does(api, query):
    api.put("/api/keys", {"name": "anthropic", "value": "sk-ant-123456789"}, format="json")
    response = api.delete(f"/api/keys{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Specify either all=true to delete."  # LibreChat's body
    assert body["type"] == "invalid_request"
    assert body["message"] == "Specify either all=true to delete."
    assert UserKey.objects.count() == 1


def test_it_leaves_other_users_keys_untouched(api, alice):
    bob = make_user("bob")
    bob_api = token_client(bob)
    bob_api.put("/api/keys", {"name": "anthropic", "value": "sk-ant-bob-9999"}, format="json")
    bob_api.put("/api/keys", {"name": "openAI", "value": openai_value("sk-bob-8888")}, format="json")

    assert api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": None}
    api.put("/api/keys", {"name": "anthropic", "value": "sk-ant-alice-1111"}, format="json")
    assert api.delete("/api/keys/openAI").status_code == 204
    assert api.delete("/api/keys?all=true").status_code == 204

    assert stored(bob, "anthropic") == "sk-ant-bob-9999"
    assert stored(bob, "openAI") == '{"apiKey":"sk-bob-8888"}'
    assert bob_api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": "never"}
    assert not UserKey.objects.filter(user=alice).exists()


def test_it_accepts_an_expiry_in_the_past_as_librechat_does_and_reports_it(api):
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"name": "anthropic", "value": "sk-ant-123456789", "expiresAt": past}
    assert api.put("/api/keys", body, format="json").status_code == 201
    assert api.get("/api/keys", {"name": "anthropic"}).json() == {"expiresAt": past}


def test_it_stores_values_in_librechats_formats(api, alice):
    def put(name: str, value: str) -> int:
        return api.put("/api/keys", {"name": name, "value": value}, format="json").status_code

    assert put("openAI", "sk-plain-openai-1") == 201  # older clients sent a plain string
    assert stored(alice, "openAI") == '{"apiKey":"sk-plain-openai-1"}'
    assert put("Mine", json.dumps({"apiKey": "sk-mine-1234", "baseURL": "https://API.example.com/v1/"})) == 201
    assert json.loads(stored(alice, "Mine")) == {"apiKey": "sk-mine-1234", "baseURL": "https://api.example.com/v1"}
    assert put("anthropic", "sk-ant-123456789") == 201
    assert stored(alice, "anthropic") == "sk-ant-123456789"
    assert put("google", json.dumps({"GOOGLE_API_KEY": "AIza-json-1"})) == 201
    assert stored(alice, "google") == '{"GOOGLE_API_KEY":"AIza-json-1"}'
    assert put("google", "AIza-plain-2") == 201
    assert stored(alice, "google") == '{"GOOGLE_API_KEY":"AIza-plain-2"}'


def test_it_drops_a_base_url_for_an_endpoint_without_userprovideurl(api, alice):
    value = json.dumps({"apiKey": "sk-alice-0001", "baseURL": ""})  # what LibreChat's dialog sends
    assert api.put("/api/keys", {"name": "openAI", "value": value}, format="json").status_code == 201
    assert stored(alice, "openAI") == '{"apiKey":"sk-alice-0001"}'


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("Mine", '{"apiKey": "sk-secret-value-1", "baseURL": ', "not valid JSON"),
        ("Mine", '["sk-secret-value-1"]', "must be a JSON object"),
        ("Mine", "sk-secret-value-1", "needs a base URL too"),
        ("Mine", '{"apiKey": "sk-secret-value-1"}', "no 'baseURL'"),
        ("Mine", '{"baseURL": "https://api.example.com/v1"}', "no 'apiKey'"),
        ("openAI", '{"apiKey": 12345}', "must be a string"),
        ("google", '{"GOOGLE_SERVICE_KEY": {}}', "no 'GOOGLE_API_KEY'"),
        ("anthropic", "   ", "empty"),
    ],
)
def test_it_rejects_a_value_that_does_not_fit_the_endpoint(api, name, value, says):
    response = api.put("/api/keys", {"name": name, "value": value}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_request"
    assert says in body["message"]
    assert list(body["errors"]) == ["value"]
    assert "sk-secret-value-1" not in response.content.decode()
    assert UserKey.objects.count() == 0


def test_it_rejects_an_unknown_endpoint_name(api):
    response = api.put("/api/keys", {"name": "nope", "value": "sk-123456789"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_request"
    assert body["message"] == "There is no enabled endpoint named 'nope'."
    assert list(body["errors"]) == ["name"]


def test_it_rejects_an_endpoint_that_does_not_take_user_keys(api):
    response = api.put("/api/keys", {"name": "groq", "value": "gsk-mine-123456"}, format="json")
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_request"
    assert "does not take user-provided keys" in response.json()["message"]
    assert UserKey.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:8080/v1", "loopback"),
        ("http://169.254.169.254/latest", "metadata"),
        ("http://2130706433/v1", "loopback"),
        ("http://user@api.example.com/v1", "credentials"),
        ("ftp://api.example.com/v1", "only http:// and https://"),
    ],
)
def test_it_rejects_an_unsafe_base_url_with_invalid_base_url(api, url, says):
    value = json.dumps({"apiKey": "sk-mine-1234", "baseURL": url})
    response = api.put("/api/keys", {"name": "Mine", "value": value}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_base_url"
    assert body["endpoint"] == "Mine"
    assert says in body["message"]
    assert UserKey.objects.count() == 0


def test_it_rejects_a_base_url_whose_name_resolves_to_a_private_address(api, monkeypatch):
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: ["93.184.215.14", "10.0.0.7"])
    value = json.dumps({"apiKey": "sk-mine-1234", "baseURL": "https://api.example.com/v1"})
    response = api.put("/api/keys", {"name": "Mine", "value": value}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "The base URL for Mine is not allowed: api.example.com resolves to 10.0.0.7, a private address."
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "sk-123456789"}, "name"),
        ({"name": "anthropic"}, "value"),
        ({"name": "anthropic", "value": {"apiKey": "sk-1"}}, "value"),
        ({"name": "anthropic", "value": "sk-123456789", "expiresAt": "next tuesday"}, "expiresAt"),
        ({"name": "anthropic", "value": "sk-123456789", "expiresAt": True}, "expiresAt"),
    ],
)
def test_it_rejects_a_malformed_body_with_field_errors(api, body, field):
    response = api.put("/api/keys", body, format="json")
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_request"
    assert field in response.json()["errors"]


def test_it_rejects_a_body_that_is_not_json(api):
    response = api.generic("PUT", "/api/keys", '{"name": "anthropic", ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_request"
    assert list(response.json()["errors"]) == ["body"]


def test_it_requires_authentication(client):
    assert client.put("/api/keys", {}, content_type="application/json").status_code == 401
    assert client.get("/api/keys?name=openAI").status_code == 401
    assert client.delete("/api/keys/openAI").status_code == 401
    assert client.delete("/api/keys?all=true").json()["type"] == "not_authenticated"
