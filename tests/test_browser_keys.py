"""The keys page in a real browser: Playwright driving Debian's chromium against the live app.

Sign in, set a key with an expiry, see its status, revoke it.  On failure a screenshot is saved
in ``test-artifacts/``.  Playwright's sync API cannot run inside an asyncio loop, so this stays
a plain sync test.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from endpoints.models import UserKey
from tests.browser import requires_chromium, screenshot_on_failure
from tests.helpers import make_user, seed

KEY = "sk-ant-browser-secret-4242"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]


@pytest.fixture
def app(live_server, settings):
    env = {"ANTHROPIC_API_KEY": "user_provided"}
    settings.LIBRECHAT_ENDPOINT_VARS = {**env}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users; not under test
    seed("version: 1.3.14\n", env=env)
    make_user("alice")
    return live_server.url


def stored_keys() -> int:
    """Count rows from a plain thread: Playwright's sync API keeps an event loop in this one,
    where Django refuses ORM calls."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_count).result()


def _count() -> int:
    try:
        return UserKey.objects.filter(endpoint="anthropic").count()
    finally:
        connection.close()


def test_it_sets_a_key_with_an_expiry_shows_it_and_revokes_it(app, page):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_it_sets_a_key_with_an_expiry_shows_it_and_revokes_it"):
        page.goto(f"{app}/keys/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/keys/$"))
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("pw-alice")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{app}/keys/")

        card = page.locator("section[data-endpoint='anthropic']")
        expect(card.get_by_role("heading", name="anthropic")).to_be_visible()
        expect(card.locator(".status")).to_have_text("Not set")

        card.get_by_label("API key for anthropic").fill(KEY)
        card.get_by_label("Expires").select_option(label="in 7 days")
        card.get_by_role("button", name="Save key").click()

        expect(page.get_by_role("status")).to_contain_text("Saved your key for anthropic; it expires on")
        expect(card.locator(".status")).to_contain_text(re.compile(r"Set \(…4242\), expires on \d{4}-\d\d-\d\d"))
        expect(card.get_by_label("API key for anthropic")).to_have_value("")
        assert KEY not in page.content()
        assert stored_keys() == 1

        card.get_by_role("button", name="Revoke key for anthropic").click()
        expect(page.get_by_role("status")).to_have_text("Revoked your key for anthropic.")
        expect(card.locator(".status")).to_have_text("Not set")
        assert stored_keys() == 0
