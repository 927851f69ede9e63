"""The first run in a real browser (Debian's chromium through Playwright) against the whole ASGI
app: create the first admin from an empty database, see the home page's endpoint states, make an
API token, use it with the OpenAI SDK, revoke it, and read the API docs (served from here, no CDN).

Playwright's sync API keeps an event loop in the test's thread, so the database is touched in
fixtures (before the browser starts) or from a plain thread (``in_thread``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from endpoints.auth import setup
from tests.browser import requires_chromium, screenshot_on_failure
from tests.helpers import make_user, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), requires_chromium]

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - {{name: fakeai, apiKey: test-key, baseURL: '{url}', models: {{default: ['gpt-4o']}}}}
    - {{name: bring-your-own, apiKey: user_provided, baseURL: '{url}', models: {{default: ['m']}}}}
    - {{name: unset-one, apiKey: '${{FIRSTRUN_UNSET_KEY}}', baseURL: '{url}', models: {{default: ['m']}}}}
"""


def in_thread(work: Callable[[], Any]) -> Any:
    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def app(settings, fake_openai, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    seed(CONFIG.format(url=fake_openai.base_url))
    return asgi_server.url


def sign_in(page, app: str, username: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{app}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}/")


def test_it_creates_the_first_admin_from_an_empty_database(app, page):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_it_creates_the_first_admin_from_an_empty_database"):
        page.goto(f"{app}/")
        expect(page.locator("#first-run")).to_contain_text("create the administrator")
        expect(page.locator("#first-run")).to_contain_text("manage.py setup_link")
        page.goto(f"{app}{setup.path()}")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Email").fill("admin@example.org")
        page.get_by_label("Password", exact=True).fill("correct horse battery 7")
        page.get_by_label("Password again").fill("correct horse battery 7")
        page.get_by_role("button", name="Create the administrator").click()
        expect(page).to_have_url(f"{app}/")
        expect(page.get_by_role("heading", name="Hello, admin")).to_be_visible()
        expect(page.get_by_role("navigation").get_by_role("link", name="Admin")).to_be_visible()
        page.goto(f"{app}{setup.path()}")  # used: it leads to sign-in now
        expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    assert in_thread(lambda: get_user_model().objects.get().is_superuser)


def test_it_shows_where_each_endpoint_stands_on_the_home_page(app, page):
    from playwright.sync_api import expect

    in_thread(lambda: make_user("alice"))
    with screenshot_on_failure(page, "test_it_shows_where_each_endpoint_stands_on_the_home_page"):
        sign_in(page, app, "alice")
        ready = page.locator('li[data-endpoint="fakeai"]')
        expect(ready).to_have_attribute("data-state", "ready")
        expect(ready.get_by_text("ready")).to_be_visible()
        byok = page.locator('li[data-endpoint="bring-your-own"]')
        expect(byok).to_have_attribute("data-state", "needs_key")
        byok.get_by_role("link", name="set your key").click()
        expect(page).to_have_url(f"{app}/keys/")
        page.go_back()
        expect(page.locator('li[data-endpoint="unset-one"]')).to_contain_text(
            "ask the administrator to set FIRSTRUN_UNSET_KEY"
        )
        expect(page.locator("pre.snippet")).to_contain_text(f'base_url="{app}/v1"')


def test_it_makes_a_token_that_works_with_the_openai_sdk_until_it_is_revoked(app, page):
    from playwright.sync_api import expect

    in_thread(lambda: make_user("alice"))
    with screenshot_on_failure(page, "test_it_makes_a_token_that_works_with_the_openai_sdk_until_it_is_revoked"):
        sign_in(page, app, "alice")
        page.get_by_role("link", name="My API tokens").click()
        page.get_by_label("Name").fill("notebook")
        page.get_by_label("Expires").select_option("30")
        page.get_by_role("button", name="Create token").click()
        key = page.locator("#new-token-key").inner_text().strip()
        assert key.startswith("lcp_")
        expect(page.locator("#new-token pre.snippet")).to_contain_text(key)

        client = openai.OpenAI(base_url=f"{app}/v1", api_key=key, max_retries=0, timeout=20)
        reply = client.chat.completions.create(model="fakeai/gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "Hello, world!"

        page.goto(f"{app}/tokens/")
        row = page.locator(f'tr[data-token="{key[:10]}"]')
        expect(row).to_contain_text("notebook")
        assert key not in page.content()  # shown once
        row.get_by_role("button", name="Revoke notebook").click()
        expect(page.get_by_role("status")).to_contain_text("Revoked the token notebook")
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_it_renders_the_api_docs_from_its_own_files(app, page):
    from playwright.sync_api import expect

    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(app) else outside.append(request.url))
    with screenshot_on_failure(page, "test_it_renders_the_api_docs_from_its_own_files"):
        page.goto(f"{app}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("LibreChat-compatible endpoints")
        expect(page.locator(".opblock-summary-path", has_text="/api/chat").first).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/v1/chat/completions").first).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/api/tokens").first).to_be_visible()
    assert outside == []
