"""The /usage/ page in a real browser: Playwright driving Debian's chromium against the live app.

Sign in, see the spend-per-day chart (server-rendered SVG with one bar per day), the top models
and the recent requests; staff see everyone's.  On failure a screenshot is saved in
``test-artifacts/``.  Playwright's sync API keeps an event loop in this thread, where Django
refuses ORM calls, so every row is written before the browser starts.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser import requires_chromium, screenshot_on_failure
from tests.helpers import make_user
from usage.models import UsageRecord

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    requires_chromium,
]


@pytest.fixture
def app(live_server):
    alice = make_user("alice")
    bob = make_user("bob")
    make_user("root", staff=True)
    now = timezone.now()
    spend = [
        (0, "gpt-4o", "0.012"),
        (0, "claude-sonnet-4-5", "0.03"),
        (2, "gpt-4o", "0.005"),
        (9, "gpt-4o-mini", "0.001"),
    ]
    for n, (days_ago, model, cost) in enumerate(spend):
        row = UsageRecord.objects.create(
            request_id=f"req_alice_{n}", user=alice, endpoint="openAI", model=model, answered_endpoint="openAI",
            answered_model=model, prompt_tokens=100 + n, completion_tokens=50, cost_usd=Decimal(cost), status="ok",
            latency_ms=321,
        )  # fmt: skip
        UsageRecord.objects.filter(pk=row.pk).update(created_at=now - timedelta(days=days_ago))
    UsageRecord.objects.create(request_id="req_bob", user=bob, endpoint="openAI", model="bobs-secret-model",
                               cost_usd=Decimal(1), status="ok")  # fmt: skip
    return live_server.url


def sign_in(page, app: str, username: str, then: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app}{then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}{then}")


def test_it_renders_the_spend_chart_top_models_and_recent_requests(app, page):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_it_renders_the_spend_chart_top_models_and_recent_requests"):
        sign_in(page, app, "alice", "/usage/")
        expect(page.get_by_role("heading", name="My usage")).to_be_visible()
        chart = page.locator("svg.spend-chart")
        expect(chart).to_be_visible()
        bars = chart.locator("rect.bar")
        expect(bars).to_have_count(30)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
        drawn = [bars.nth(i).bounding_box() for i in range(30)]
        tall = [b for b in drawn if b is not None and b["height"] > 1]
        assert len(tall) == 3  # today, two days ago, nine days ago
        today = bars.last
        assert today.get_attribute("data-cost") == "0.042"
        assert (today.bounding_box() or {"height": 0})["height"] == max(b["height"] for b in tall)
        expect(page.locator("figcaption")).to_contain_text("$0.048")
        top = page.locator("table.top-models tbody tr")
        expect(top.first).to_contain_text("claude-sonnet-4-5")
        expect(page.locator("table.recent tbody tr")).to_have_count(4)
        assert "bobs-secret-model" not in page.content()

        page.get_by_role("link", name="Last 7 days").click()
        expect(page.locator("svg.spend-chart rect.bar")).to_have_count(7)


def test_it_shows_staff_everyones_usage_with_csv_links(app, page):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_it_shows_staff_everyones_usage_with_csv_links"):
        sign_in(page, app, "root", "/usage/admin/")
        expect(page.locator("svg.spend-chart rect.bar")).to_have_count(30)
        users = page.locator("table.by-user tbody tr")
        expect(users).to_have_count(2)
        expect(users.first).to_contain_text("bob")
        expect(page.locator("table.by-model")).to_contain_text("bobs-secret-model")
        with page.expect_download() as download:
            page.get_by_role("link", name="per user").click()
        path = download.value.path()
        assert path is not None
        lines = Path(path).read_text().splitlines()
        assert lines[0].startswith("user_id,username,requests") and len(lines) == 3
