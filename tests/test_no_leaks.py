"""A canary key, stored through the API and through the admin form, never comes back:
not in any API response, page (admin included) or log line at DEBUG."""

from __future__ import annotations

import json
import logging
from html.parser import HTMLParser

import pytest
from django.test import Client

from endpoints.models import Endpoint, UserKey
from tests.helpers import make_user, seed, token_client

pytestmark = pytest.mark.django_db

CANARY = "sk-CANARY-7f3a9c1e5b2d4f60-tail"
ADMIN_CANARY = "sk-ADMINCANARY-0e1d2c3b4a596877-tail"
CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: Mine
      apiKey: user_provided
      baseURL: user_provided
      models: {default: ['m1']}
    - name: typed
      apiKey: '${TYPED_KEY}'
      baseURL: 'http://127.0.0.1:9/v1'
      models: {default: ['t1']}
"""
ENV = {"ANTHROPIC_API_KEY": "user_provided", "OPENAI_API_KEY": "user_provided"}


class FormFields(HTMLParser):
    """The fields a browser would submit from the first ``<form>`` with ``method="post"`` in a page."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, []
        self._select: str | None = None
        self._textarea: str | None = None
        self._first_option: str | None = None
        self._selected = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a and not self._selected:
                self.fields.append((self._select, a.get("value", "")))
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data.lstrip("\n"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            if not self._selected and self._first_option is not None:
                self.fields.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def submit_admin_form(client: Client, url: str, **changes: str):
    parser = FormFields("endpoint_form")
    parser.feed(client.get(url).content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    for name, value in changes.items():
        data[name] = [value]
    data["_save"] = ["Save"]
    return client.post(url, data)


@pytest.fixture
def leaks(settings, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    settings.LIBRECHAT_ENDPOINT_VARS = {**ENV}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    settings.ENVIRON = {"TYPED_KEY": "sk-from-env"}
    seed(CONFIG, env=ENV)
    monkeypatch.setattr("endpoints.netguard.urls.system_resolver", lambda host, port: ["93.184.215.14"])
    return caplog


def assert_clean(text: str, where: str) -> None:
    for canary in (CANARY, ADMIN_CANARY):
        assert canary not in text, f"the key leaked into {where}"
        assert canary[:-4] not in text, f"the key (all but its tail) leaked into {where}"


def test_it_never_shows_a_stored_key_anywhere(leaks, client):
    alice = make_user("alice")
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    api = token_client(alice)

    # Stored through the API, as LibreChat's client does, in both formats …
    mine = json.dumps({"apiKey": CANARY, "baseURL": "https://api.example.com/v1"})
    assert api.put("/api/keys", {"name": "Mine", "value": mine, "expiresAt": ""}, format="json").status_code == 201
    assert api.put("/api/keys", {"name": "anthropic", "value": CANARY}, format="json").status_code == 201
    # … and through the admin form as a literal endpoint key.
    client.force_login(admin)
    typed = Endpoint.objects.get(name="typed")
    change_url = f"/admin/endpoints/endpoint/{typed.pk}/change/"
    assert submit_admin_form(client, change_url, api_key=ADMIN_CANARY).status_code == 302
    typed.refresh_from_db()
    assert typed.api_key_secret and typed.api_key == ""

    responses = {}
    for url in ("/api/endpoints", "/api/endpoints/Mine", "/api/models", "/api/models/details"):
        responses[url] = api.get(url)
    for name in ("Mine", "anthropic", "typed"):
        responses[f"GET /api/keys?name={name}"] = api.get("/api/keys", {"name": name})
    # Error answers that had the key in their request.
    bad = json.dumps({"apiKey": CANARY, "baseURL": "http://127.0.0.1/v1"})
    responses["PUT unsafe URL"] = api.put("/api/keys", {"name": "Mine", "value": bad}, format="json")
    responses["PUT bad JSON"] = api.put("/api/keys", {"name": "Mine", "value": "{" + CANARY}, format="json")
    responses["PUT unknown"] = api.put("/api/keys", {"name": "nope", "value": CANARY}, format="json")
    responses["PUT bad expiry"] = api.put(
        "/api/keys", {"name": "anthropic", "value": CANARY, "expiresAt": "soon"}, format="json"
    )
    assert responses["PUT unsafe URL"].status_code == 400

    page_user = Client()
    page_user.force_login(alice)
    responses["/keys/"] = page_user.get("/keys/")
    responses["/keys/ after a failed save"] = page_user.post(
        "/keys/",
        {"endpoint": "Mine", "action": "save", "expires": "12h", "api_key": CANARY, "base_url": "http://10.0.0.1"},
        follow=True,
    )
    for url in (
        change_url,
        "/admin/endpoints/endpoint/",
        f"/admin/endpoints/endpoint/{Endpoint.objects.get(name='Mine').pk}/change/",
    ):
        responses[url] = client.get(url)
    assert responses[change_url].status_code == 200
    assert "stored encrypted: …tail" in responses[change_url].content.decode()

    assert all(r.status_code == 200 for w, r in responses.items() if not w.startswith("PUT")), {
        w: r.status_code for w, r in responses.items()
    }
    for where, response in responses.items():
        assert_clean(response.content.decode(), where)
    assert UserKey.objects.count() == 2

    log_text = leaks.text + "".join(repr(record.__dict__) for record in leaks.records)
    assert any(record.name == "endpoints.keys.store" for record in leaks.records)
    assert_clean(log_text, "the logs")
