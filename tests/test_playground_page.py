"""The ``/playground/`` page through Django's test client: who may see it and what it renders.

The chat itself runs in the browser (tests/test_browser_playground.py); here we check the
server-rendered part: the enabled endpoints and their models, key notes, CSRF token, and that
no key (the administrator's or the user's) ever reaches the page.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.catalog.snapshot import bump_version
from endpoints.keys import store as userkeys
from endpoints.models import Endpoint, EndpointModel
from tests.helpers import make_user, seed

pytestmark = pytest.mark.django_db

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: '${FAKEAI_KEY}'
      baseURL: 'https://fake.example.org/v1'
      models: {default: ['gpt-4o', 'gpt-4o-mini']}
    - name: Mine
      apiKey: user_provided
      baseURL: user_provided
      models: {default: ['m1']}
    - name: groq
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1'
      models: {default: ['llama3']}
    - name: nokey
      apiKey: '${UNSET_KEY}'
      baseURL: 'https://nokey.example.org/v1'
      models: {default: ['never-listed']}
"""
ENV = {"ANTHROPIC_API_KEY": "user_provided"}
ADMIN_KEY = "sk-admin-canary-5150"
USER_KEY = "sk-ant-user-canary-8086"


@pytest.fixture(autouse=True)
def config(settings, monkeypatch):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    settings.ENVIRON = {"FAKEAI_KEY": ADMIN_KEY, "GROQ_API_KEY": "gsk-admin-canary-6502"}
    seed(CONFIG, env=ENV)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: ["93.184.215.14"])


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(client, alice):
    client.force_login(alice)
    return client


def page_data(html: str) -> list[dict]:
    match = re.search(r'<script id="playground-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no playground data in the page"
    return json.loads(match.group(1))


def options(html: str, select_id: str) -> list[str]:
    match = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select #{select_id}"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/playground/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/playground/"


def test_it_lands_on_the_home_page_after_signing_in_which_links_to_the_playground(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert 'href="/playground/"' in client.get("/").content.decode()
    assert client.get("/playground/").status_code == 200


def test_it_lists_the_enabled_endpoints_and_their_models(browser):
    html = browser.get("/playground/").content.decode()
    data = page_data(html)
    names = [e["name"] for e in data]
    assert names[:1] == ["anthropic"]  # LibreChat's order: built-in endpoints before custom ones
    assert {"fakeai", "Mine", "groq"} <= set(names)
    assert "nokey" in names  # listed as LibreChat lists it, though its key variable is unset
    assert options(html, "pg-endpoint") == names
    models = {e["name"]: e["models"] for e in data}
    assert models["fakeai"] == ["gpt-4o", "gpt-4o-mini"]
    assert models["Mine"] == ["m1"]
    assert models["anthropic"]  # LibreChat's default anthropic models
    assert options(html, "pg-model") == models["anthropic"]  # the first endpoint's models


def test_it_hides_disabled_endpoints_and_models(browser):
    Endpoint.objects.filter(name="groq").update(enabled=False)
    EndpointModel.objects.filter(model_id="gpt-4o-mini").update(enabled=False)
    bump_version()
    data = page_data(browser.get("/playground/").content.decode())
    assert "groq" not in [e["name"] for e in data]
    assert {e["name"]: e["models"] for e in data}["fakeai"] == ["gpt-4o"]


def test_it_preselects_the_endpoint_from_the_query(browser):
    html = browser.get("/playground/?endpoint=fakeai").content.decode()
    assert '<option value="fakeai" selected>' in html
    assert options(html, "pg-model") == ["gpt-4o", "gpt-4o-mini"]


def test_it_links_to_the_keys_page_when_a_user_key_is_missing(browser, alice):
    html = browser.get("/playground/").content.decode()
    states = {e["name"]: e["keyState"] for e in page_data(html)}
    assert states["anthropic"] == "not_set" and states["Mine"] == "not_set" and states["fakeai"] == "admin"
    note = re.search(r'<p id="pg-key-note"[^>]*>(.*?)</p>', html, re.S)
    assert note and "hidden" not in note.group(0).split(">")[0]
    assert "anthropic uses your own API key, which you have not set yet." in note.group(1)
    assert '<a href="/keys/">Set your key on the My keys page</a>' in note.group(1)

    userkeys.set_key(alice, "anthropic", USER_KEY, timezone.now() + timedelta(days=1))
    html = browser.get("/playground/").content.decode()
    assert {e["name"]: e["keyState"] for e in page_data(html)}["anthropic"] == "set"
    assert re.search(r'<p id="pg-key-note"[^>]*hidden>', html)


def test_it_says_when_the_user_key_has_expired(browser, alice):
    userkeys.set_key(alice, "anthropic", USER_KEY, timezone.now() - timedelta(minutes=1))
    html = browser.get("/playground/").content.decode()
    assert {e["name"]: e["keyState"] for e in page_data(html)}["anthropic"] == "expired"
    assert "Your key for anthropic has expired." in html


def test_it_puts_a_csrf_token_and_the_script_in_the_page(browser):
    response = browser.get("/playground/")
    html = response.content.decode()
    assert re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', html)
    assert "csrftoken" in response.cookies
    assert '<script src="/static/endpoints/playground.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/endpoints/playground.css">' in html
    assert 'data-chat-url="/api/chat"' in html
    assert 'aria-live="polite"' in html
    for field in ("pg-endpoint", "pg-model", "pg-system", "pg-temperature", "pg-message"):
        assert f'<label for="{field}">' in html


def test_it_never_puts_a_key_into_the_page(browser, alice):
    userkeys.set_key(alice, "anthropic", USER_KEY, None)
    userkeys.set_key(
        alice, "Mine", json.dumps({"apiKey": USER_KEY + "-mine", "baseURL": "https://mine.example.com/v1"}), None
    )
    html = browser.get("/playground/").content.decode()
    for secret in (ADMIN_KEY, "gsk-admin-canary-6502", USER_KEY, USER_KEY[:-4], "FAKEAI_KEY", "mine.example.com"):
        assert secret not in html
    assert "fake.example.org" not in html and "api.groq.com" not in html  # base URLs stay server-side


def test_it_refuses_other_methods(browser):
    assert browser.post("/playground/", {"message": "hi"}).status_code in (403, 405)


def test_it_says_so_when_no_endpoint_is_enabled(browser):
    Endpoint.objects.update(enabled=False)
    bump_version()
    html = browser.get("/playground/").content.decode()
    assert "No endpoint is enabled yet" in html
    assert "playground.js" not in html
