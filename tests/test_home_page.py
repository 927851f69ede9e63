"""The first run as a newcomer sees it: the home page, the first admin's setup link, the
tokens page, and the small things (the seed report's wording, an empty usage chart)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from endpoints.auth import setup
from endpoints.catalog.diagnostics import TEST_RESULT_KEY
from endpoints.management.commands.seed_endpoints import summary
from endpoints.models import ApiToken
from tests.helpers import make_user, seed

pytestmark = pytest.mark.django_db

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - {name: ready-one, apiKey: test-key, baseURL: 'http://127.0.0.1:9/v1', models: {default: ['m1', 'm2']}}
    - {name: bring-your-own, apiKey: user_provided, baseURL: 'http://127.0.0.1:9/v1', models: {default: ['m']}}
    - {name: unset-one, apiKey: '${FIRSTRUN_UNSET_KEY}', baseURL: 'http://127.0.0.1:9/v1', models: {default: ['m']}}
"""


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


# --- home page --------------------------------------------------------------------------------


def test_it_explains_the_service_and_points_to_the_setup_link_on_an_empty_database(client):
    page = text(client.get("/"))
    assert "AI endpoints and models" in page and 'id="first-run"' in page
    assert "manage.py setup_link" in page
    assert setup.token() not in page  # the link itself is only printed where the service runs


def test_it_offers_sign_in_once_a_user_exists(client):
    make_user("alice")
    page = text(client.get("/"))
    assert 'id="first-run"' not in page and 'href="/accounts/login/"' in page


def test_it_shows_each_endpoint_as_this_person_stands_with_it(client):
    seed(CONFIG)
    alice = make_user("alice")
    cache.set(TEST_RESULT_KEY + "ready-one", {"ok": False, "message": "upstream_error: boom", "at": timezone.now()})
    client.force_login(alice)
    page = text(client.get("/"))
    assert 'data-endpoint="ready-one" data-state="ready"' in page
    assert 'data-endpoint="bring-your-own" data-state="needs_key"' in page and 'href="/keys/"' in page
    assert 'data-endpoint="unset-one" data-state="unset"' in page
    assert "ask the administrator to set FIRSTRUN_UNSET_KEY" in page
    assert "last test failed" in page and "boom" not in page  # the details are for staff
    assert 'base_url="http://testserver/v1", api_key="&lt;your API token&gt;"' in page  # the OpenAI SDK snippet
    assert 'model="ready-one/m1"' in page
    for link in ("/playground/", "/keys/", "/tokens/", "/usage/", "/api/docs/"):
        assert f'href="{link}"' in page, link
    assert 'href="/admin/"' not in page


def test_it_gives_staff_the_admin_links_and_the_fix(client):
    seed(CONFIG)
    cache.set(TEST_RESULT_KEY + "ready-one", {"ok": False, "message": "upstream_error: boom", "at": timezone.now()})
    client.force_login(make_user("root", staff=True))
    page = text(client.get("/"))
    assert 'href="/admin/"' in page and "set FIRSTRUN_UNSET_KEY in <code>.env</code>" in page
    assert "upstream_error: boom" in page


# --- the first admin -----------------------------------------------------------------------


def test_it_creates_the_first_admin_once_through_the_setup_link(client):
    form = {"username": "admin", "email": "admin@example.org", "password1": "a long passphrase 9",
            "password2": "a long passphrase 9"}  # fmt: skip
    assert client.get(setup.path()).status_code == 200
    response = client.post(setup.path(), form)
    assert response.status_code == 302 and response["Location"] == "/"
    admin = get_user_model().objects.get()
    assert admin.is_superuser and admin.is_staff and admin.check_password("a long passphrase 9")
    assert "Hello, admin" in text(client.get("/"))
    client.logout()
    again = client.get(setup.path())
    assert again.status_code == 302 and again["Location"] == "/accounts/login/"  # valid until used
    assert client.post(setup.path(), {**form, "username": "mallory"}).status_code == 302
    assert get_user_model().objects.count() == 1


def test_it_refuses_a_wrong_setup_token_and_weak_passwords(client):
    assert client.get("/setup/" + "0" * 40 + "/").status_code == 404
    weak = client.post(setup.path(), {"username": "admin", "password1": "123", "password2": "123"})
    assert weak.status_code == 200 and "too short" in text(weak)
    differ = client.post(setup.path(), {"username": "admin", "password1": "a long pass 9x", "password2": "another"})
    assert "The two passwords differ." in text(differ)
    spaces = client.post(setup.path(), {"username": "the admin", "password1": "a long pass 9x",
                                        "password2": "a long pass 9x"})  # fmt: skip
    assert spaces.status_code == 200 and "Enter a valid username" in text(spaces)
    assert not get_user_model().objects.exists()


def test_it_prints_the_setup_link_only_while_no_user_exists():
    out = StringIO()
    call_command("setup_link", "--base-url", "http://127.0.0.1:8815", stdout=out)
    assert f"http://127.0.0.1:8815{setup.path()}" in out.getvalue()
    make_user("alice")
    out = StringIO()
    call_command("setup_link", stdout=out)
    assert "/setup/" not in out.getvalue() and "sign in" in out.getvalue()


def test_it_derives_the_setup_token_from_the_secret_key(settings):
    first = setup.token()
    settings.SECRET_KEY = "another-secret-key-for-another-installation-0123456789"
    assert setup.token() != first and len(first) == 40


# --- tokens page -----------------------------------------------------------------------------


def test_it_creates_a_token_on_the_page_shows_its_key_once_and_revokes_it(client):
    alice = make_user("alice")
    client.force_login(alice)
    created = client.post("/tokens/", {"action": "create", "name": "laptop", "expires": "30"})
    page = text(created)
    token = ApiToken.objects.get()
    key = page.split('data-key="')[1].split('"')[0]
    assert key.startswith(token.prefix) and "no-store" in created["Cache-Control"]
    assert key not in text(client.get("/tokens/"))  # never again
    assert token.prefix in text(client.get("/tokens/"))
    revoked = client.post("/tokens/", {"action": "revoke", "token": token.pk}, follow=True)
    assert "Revoked the token laptop" in text(revoked)
    assert ApiToken.objects.get().revoked_at is not None


def test_it_lets_staff_revoke_anyones_token_on_the_page_and_nobody_else(client):
    alice, bob, root = make_user("alice"), make_user("bob"), make_user("root", staff=True)
    client.force_login(alice)
    client.post("/tokens/", {"action": "create", "name": "alice-laptop", "expires": "never"})
    token = ApiToken.objects.get()
    client.force_login(bob)
    assert "There is no such token" in text(client.post("/tokens/", {"action": "revoke", "token": token.pk},
                                                       follow=True))  # fmt: skip
    client.force_login(root)
    assert "Everyone else" in text(client.get("/tokens/")) and "alice-laptop" in text(client.get("/tokens/"))
    client.post("/tokens/", {"action": "revoke", "token": token.pk})
    assert ApiToken.objects.get().revoked_at is not None


def test_it_masks_tokens_in_admin(client):
    alice = make_user("alice")
    client.force_login(alice)
    key = text(client.post("/tokens/", {"action": "create", "name": "laptop", "expires": "7"})).split('data-key="')[1]
    key = key.split('"')[0]
    from rest_framework.authtoken.models import Token

    drf = Token.objects.create(user=alice)
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-root-long"))
    tokens_admin = text(client.get("/admin/endpoints/apitoken/"))
    assert "laptop" in tokens_admin and key not in tokens_admin and key[:10] + "…" in tokens_admin
    assert drf.key not in text(client.get("/admin/authtoken/tokenproxy/"))


# --- small things -----------------------------------------------------------------------------


def test_it_reports_seeding_in_words():
    assert summary("x.yaml", 5, dry_run=False) == "x.yaml: 5 changes applied"
    assert summary("x.yaml", 1, dry_run=False) == "x.yaml: 1 change applied"
    assert summary("x.yaml", 0, dry_run=False) == "x.yaml: 0 changes, the endpoints already match it"
    assert summary("x.yaml", 2, dry_run=True) == "x.yaml: 2 changes would be applied (dry run: nothing changed)"


def test_it_shows_an_empty_usage_chart_as_no_data_not_as_zero_dollar_ticks(client):
    client.force_login(make_user("alice"))
    page = text(client.get("/usage/"))
    assert "$0 $0" not in page and ">$0<" not in page
    assert 'class="empty-chart"' in page and "No requests in these 30 days" in page
