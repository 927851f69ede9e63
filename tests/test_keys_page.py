"""The ``/keys/`` page and sign-in, through Django's test client."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from core import secrets
from endpoints.keys.store import context
from endpoints.models import UserKey
from tests.helpers import make_user, seed

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
ENV = {"OPENAI_API_KEY": "sk-admin-configured", "ANTHROPIC_API_KEY": "user_provided"}
KEY = "sk-ant-page-secret-7777"


@pytest.fixture(autouse=True)
def config(settings, monkeypatch):
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    settings.ENVIRON = {"GROQ_API_KEY": "gsk-test", "OPENAI_API_KEY": "sk-admin-configured"}
    seed(CONFIG, env=ENV)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: ["93.184.215.14"])


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def browser(client, alice):
    client.force_login(alice)
    return client


def section(html: str, name: str) -> str:
    match = re.search(rf'<section[^>]*data-endpoint="{name}".*?</section>', html, re.S)
    assert match, f"no section for {name}"
    return match.group(0)


def save(client: Client, endpoint: str, **fields: str):
    data = {"endpoint": endpoint, "action": "save", "expires": "12h", **fields}
    return client.post("/keys/", data, follow=True)


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/keys/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/keys/"


def test_it_signs_in_and_returns_to_the_page(client, alice):
    page = client.get("/accounts/login/?next=/keys/")
    assert page.status_code == 200
    assert '<label for="id_username">Username</label>' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice", "next": "/keys/"})
    assert response.status_code == 302
    assert response["Location"] == "/keys/"
    assert client.get("/keys/").status_code == 200


def test_it_shows_an_error_for_a_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_it_lists_every_endpoint_that_takes_a_user_key(browser):
    html = browser.get("/keys/").content.decode()
    assert re.findall(r'data-endpoint="([^"]+)"', html) == ["anthropic", "Mine"]
    assert "groq" not in html and "openAI" not in html
    assert "Not set" in section(html, "anthropic")
    mine = section(html, "Mine")
    assert '<label for="ep-2-key">API key for Mine</label>' in mine
    assert '<label for="ep-2-url">Base URL for Mine</label>' in mine
    assert 'name="base_url"' not in section(html, "anthropic")
    options = re.findall(r"<option [^>]*>([^<]+)</option>", section(html, "anthropic"))
    assert options == ["in 30 minutes", "in 2 hours", "in 12 hours", "in 1 day", "in 7 days", "in 30 days", "never"]
    assert re.search(r'<option value="12h" selected>', html)


def test_it_sets_a_key_and_shows_only_its_masked_tail(browser, alice):
    response = save(browser, "anthropic", api_key=KEY, expires="7d")
    html = response.content.decode()
    assert response.redirect_chain == [("/keys/", 302)]
    assert "Saved your key for anthropic; it expires on" in html
    assert re.search(r"Set \(…7777\), expires on <time", section(html, "anthropic"))
    assert KEY not in html
    assert 'value="sk-' not in html
    row = UserKey.objects.get(user=alice)
    assert secrets.decrypt(row.ciphertext, context=context(alice.pk, "anthropic")) == KEY


def test_it_sets_a_key_and_base_url_in_librechats_format(browser, alice):
    save(browser, "Mine", api_key="sk-mine-secret-4321", base_url="https://api.example.com/v1/", expires="never")
    html = browser.get("/keys/").content.decode()
    assert "Set (…4321), never expires" in section(html, "Mine")
    assert "api.example.com" not in html
    row = UserKey.objects.get(user=alice, endpoint="Mine")
    value = json.loads(secrets.decrypt(row.ciphertext, context=context(alice.pk, "Mine")))
    assert value == {"apiKey": "sk-mine-secret-4321", "baseURL": "https://api.example.com/v1"}


def test_it_replaces_a_key(browser, alice):
    save(browser, "anthropic", api_key="sk-ant-first-1111")
    html = save(browser, "anthropic", api_key="sk-ant-second-2222", expires="30m").content.decode()
    assert "Replace key" in section(html, "anthropic")
    assert "(…2222)" in section(html, "anthropic")
    assert UserKey.objects.filter(user=alice).count() == 1


def test_it_revokes_a_key(browser, alice):
    save(browser, "anthropic", api_key=KEY)
    assert "Revoke key for anthropic" in browser.get("/keys/").content.decode()
    response = browser.post("/keys/", {"endpoint": "anthropic", "action": "revoke"}, follow=True)
    html = response.content.decode()
    assert "Revoked your key for anthropic." in html
    assert "Not set" in section(html, "anthropic")
    assert "Revoke key for anthropic" not in html
    assert not UserKey.objects.filter(user=alice).exists()


def test_it_shows_the_netguard_reason_for_an_unsafe_base_url(browser):
    response = save(browser, "Mine", api_key="sk-mine-secret-4321", base_url="http://169.254.169.254/latest")
    html = response.content.decode()
    assert "The base URL for Mine is not allowed: 169.254.169.254 is a cloud metadata address." in html
    assert 'role="alert"' in html
    assert not UserKey.objects.exists()
    assert "sk-mine-secret-4321" not in html


def test_it_asks_for_a_missing_key(browser):
    html = save(browser, "anthropic", api_key="").content.decode()
    assert "Enter your API key for anthropic." in html
    assert not UserKey.objects.exists()


def test_it_refuses_an_endpoint_without_user_keys(browser):
    html = save(browser, "groq", api_key="gsk-mine-123456").content.decode()
    assert "groq does not take user-provided keys" in html
    assert not UserKey.objects.exists()


def test_it_only_touches_the_signed_in_users_keys(browser):
    bob = make_user("bob")
    UserKey.objects.create(user=bob, endpoint="anthropic", ciphertext="x", hint="…bbbb")
    assert "Not set" in section(browser.get("/keys/").content.decode(), "anthropic")
    browser.post("/keys/", {"endpoint": "anthropic", "action": "revoke"})
    assert UserKey.objects.filter(user=bob).exists()


def test_it_enforces_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    data = {"endpoint": "anthropic", "action": "save", "expires": "12h", "api_key": KEY}
    assert client.post("/keys/", data).status_code == 403
    assert client.post("/keys/", {"endpoint": "anthropic", "action": "revoke"}).status_code == 403
    assert not UserKey.objects.exists()

    html = client.get("/keys/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post("/keys/", {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert UserKey.objects.filter(user=alice).exists()


def test_it_never_puts_the_key_into_the_page(browser):
    save(browser, "anthropic", api_key=KEY)
    save(browser, "Mine", api_key=KEY + "-mine", base_url="https://api.example.com/v1")
    html = browser.get("/keys/").content.decode()
    assert KEY not in html
    assert KEY[:-4] not in html
    assert not re.search(r'type="password"[^>]*value=', html)
