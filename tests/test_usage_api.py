"""GET /api/usage and /api/usage/summary, the /usage/ pages, CSV export and the usage admin."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.helpers import make_user, seed, token_client
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

_ids = count(1)


def record(user: Any, *, at: datetime | None = None, endpoint: str = "openAI", model: str = "gpt-4o",
           cost: str | None = "0.001", prompt: int = 100, completion: int = 50, status: str = "ok",
           answered_model: str = "", **extra: Any) -> UsageRecord:  # fmt: skip
    row = UsageRecord.objects.create(
        request_id=f"req_{next(_ids)}", user=user, endpoint=endpoint, model=model, answered_endpoint=endpoint,
        answered_model=answered_model or model, prompt_tokens=prompt, completion_tokens=completion,
        cost_usd=Decimal(cost) if cost is not None else None, status=status, latency_ms=120, **extra,
    )  # fmt: skip
    if at is not None:
        UsageRecord.objects.filter(pk=row.pk).update(created_at=at)
        row.refresh_from_db()
    return row


def day(n: int) -> datetime:
    return datetime(2026, 11, n, 12, 0, tzinfo=UTC)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def admin():
    return make_user("root", staff=True)


def test_it_requires_authentication():
    from rest_framework.test import APIClient

    response = APIClient().get("/api/usage")
    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"


def test_it_lists_only_the_callers_records_with_totals(alice, bob):
    record(alice, cost="0.0015", prompt=10, completion=5)
    record(alice, cost="0.00025", prompt=20, completion=7)
    record(alice, cost=None, prompt=3, completion=4, model="mystery")
    record(bob, cost="9")
    data = token_client(alice).get("/api/usage").json()
    assert len(data["results"]) == 3 and data["next"] is None
    assert data["totals"] == {
        "requests": 3, "prompt_tokens": 33, "completion_tokens": 16, "cost_usd": "0.00175", "unpriced_requests": 1,
    }  # fmt: skip
    first = data["results"][0]
    assert set(first) >= {"request_id", "conversation_id", "endpoint", "model", "prompt_tokens", "completion_tokens",
                          "estimated", "cost_usd", "status", "latency_ms", "created_at"}  # fmt: skip
    assert first["model"] == "mystery" and first["cost_usd"] is None
    assert data["results"][1]["cost_usd"] == "0.00025"  # money is a decimal string, never a float


def test_it_filters_by_dates_endpoint_and_model(alice):
    record(alice, at=day(1), endpoint="openAI", model="gpt-4o")
    record(alice, at=day(2), endpoint="openAI", model="gpt-4o-mini")
    record(alice, at=day(3), endpoint="anthropic", model="claude-sonnet-4-5")
    record(alice, at=day(4), endpoint="openAI", model="gpt-4o", answered_model="gpt-4o-2024-08-06")
    client = token_client(alice)

    def models(query: str) -> list[str]:
        return [row["model"] for row in client.get(f"/api/usage?{query}").json()["results"]]

    assert models("from=2026-11-02&to=2026-11-03") == ["claude-sonnet-4-5", "gpt-4o-mini"]  # `to` is inclusive
    assert models("from=2026-11-03T00:00:00Z") == ["gpt-4o", "claude-sonnet-4-5"]
    assert models("endpoint=anthropic") == ["claude-sonnet-4-5"]
    assert models("model=gpt-4o") == ["gpt-4o", "gpt-4o"]
    assert models("model=gpt-4o-2024-08-06") == ["gpt-4o"]  # the model that answered counts too
    assert client.get("/api/usage?endpoint=openAI&to=2026-11-01").json()["totals"]["requests"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=yesterday", "from"), ("to=2026-13-01", "to"), ("from=2026-11-05&to=2026-11-01", "to"),
     ("page_size=0", "page_size"), ("status=weird", "status"), ("cursor=bm9wZQ", "cursor")],
)  # fmt: skip
def test_it_rejects_bad_query_parameters(alice, query, field):
    response = token_client(alice).get(f"/api/usage?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_request" and field in body["errors"]


def test_it_paginates_with_a_cursor_without_losing_or_repeating_records(alice):
    same_moment = day(5)
    rows = [record(alice, at=same_moment) for _ in range(3)] + [record(alice, at=day(n)) for n in (1, 2, 3, 4)]
    client = token_client(alice)
    url: str | None = "/api/usage?page_size=2"
    seen: list[str] = []
    pages = 0
    while url:
        data = client.get(url).json()
        assert len(data["results"]) <= 2
        assert data["totals"]["requests"] == 7  # totals cover every page
        seen += [row["request_id"] for row in data["results"]]
        url = data["next"]
        pages += 1
    assert pages == 4
    expected = sorted(rows, key=lambda r: (r.created_at, r.pk), reverse=True)
    assert seen == [r.request_id for r in expected]


def test_it_lets_admins_query_any_user_and_nobody_else(alice, bob, admin):
    record(alice, cost="1")
    record(bob, cost="2")
    record(bob, cost="3")
    staff = token_client(admin)
    assert staff.get("/api/usage").json()["totals"]["requests"] == 0  # an admin's own, by default
    assert staff.get(f"/api/usage?user={bob.pk}").json()["totals"]["cost_usd"] == "5"
    assert staff.get("/api/usage?user=alice").json()["totals"]["cost_usd"] == "1"
    assert staff.get("/api/usage?user=all").json()["totals"]["requests"] == 3
    assert staff.get("/api/usage?user=nobody").status_code == 404
    refused = token_client(alice).get("/api/usage?user=bob")
    assert refused.status_code == 403 and refused.json()["type"] == "permission_denied"
    assert token_client(alice).get("/api/usage?user=all").status_code == 403
    assert token_client(alice).get("/api/usage?user=alice").json()["totals"]["requests"] == 1


def test_it_answers_with_a_constant_number_of_queries(alice, django_assert_max_num_queries):
    client = token_client(alice)
    client.get("/api/usage")  # warm the token cache
    for n in range(30):
        record(alice, at=day(1 + n % 20))
    with django_assert_max_num_queries(4):  # token, page, totals (+ a session read at most)
        assert len(client.get("/api/usage").json()["results"]) == 30


def test_it_summarizes_per_day_model_and_endpoint(alice, bob, admin):
    record(alice, at=day(1), model="gpt-4o", cost="0.5", prompt=10, completion=1)
    record(alice, at=day(1), model="gpt-4o-mini", cost="0.25", prompt=20, completion=2)
    record(alice, at=day(3), endpoint="anthropic", model="claude-sonnet-4-5", cost="1", prompt=30, completion=3)
    record(alice, at=day(3), model="gpt-4o", cost=None, prompt=40, completion=4)
    record(bob, at=day(3), cost="100")
    data = token_client(alice).get("/api/usage/summary").json()
    assert data["totals"] == {"requests": 4, "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": "1.75",
                              "unpriced_requests": 1}  # fmt: skip
    assert [(d["date"], d["requests"], d["cost_usd"]) for d in data["by_day"]] == [
        ("2026-11-01", 2, "0.75"), ("2026-11-03", 2, "1"),
    ]  # fmt: skip
    assert [(m["endpoint"], m["model"], m["cost_usd"], m["requests"]) for m in data["by_model"]] == [
        ("anthropic", "claude-sonnet-4-5", "1", 1), ("openAI", "gpt-4o", "0.5", 2), ("openAI", "gpt-4o-mini", "0.25", 1),
    ]  # fmt: skip
    assert [(e["endpoint"], e["cost_usd"]) for e in data["by_endpoint"]] == [("anthropic", "1"), ("openAI", "0.75")]
    assert "by_user" not in data
    everyone = token_client(admin).get("/api/usage/summary?user=all&from=2026-11-02").json()
    assert [(u["username"], u["cost_usd"]) for u in everyone["by_user"]] == [("bob", "100"), ("alice", "1")]


# --- pages -----------------------------------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_a_person_their_spend_chart_top_models_and_recent_requests(alice, bob):
    today = timezone.now()
    record(alice, at=today - timedelta(days=1), model="gpt-4o", cost="0.02")
    record(alice, at=today, model="claude-sonnet-4-5", endpoint="anthropic", cost="0.05")
    record(alice, at=today, model="mystery", cost=None)
    record(bob, at=today, model="bobs-model", cost="7")
    assert Client().get("/usage/").status_code == 302  # sign in first
    page = signed_in(alice).get("/usage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg class="spend-chart"' in html
    assert html.count('<rect class="bar"') == 30
    assert 'data-cost="0.05"' in html and 'data-cost="0.02"' in html
    assert "claude-sonnet-4-5" in html and "mystery" in html and "unknown" in html
    assert "bobs-model" not in html
    assert signed_in(alice).get("/usage/?days=7").content.decode().count('<rect class="bar"') == 7


def test_it_marks_estimated_rows_with_an_approximately_sign(alice):
    record(alice, model="exact-model", prompt=41, completion=9, cost="0.0003")
    record(alice, model="guessed-model", prompt=37, completion=6, cost="0.0002", estimated=True)
    html = signed_in(alice).get("/usage/").content.decode()
    rows = {model: row for row in html.split("<tr>") for model in ("exact-model", "guessed-model") if model in row}
    assert "≈" not in rows["exact-model"] and "41 + 9" in rows["exact-model"]
    assert (
        'title="estimated here: the provider reported no usage for this request">≈</abbr> 37 + 6'
        in rows["guessed-model"]
    )
    assert "≈ 0.0002" in rows["guessed-model"]


def test_it_shows_a_person_their_balance_and_limits(alice):
    from usage.models import Balance, BalanceSettings, SpendingLimit

    BalanceSettings.objects.create(enabled=True)
    Balance.objects.create(user=alice, credits=Decimal(1_500_000))
    SpendingLimit.objects.create(endpoint="openAI", period="month", amount_usd=Decimal("2.5"))
    html = signed_in(alice).get("/usage/").content.decode()
    assert "<strong>1500000</strong> token credits ($1.5; 1,000,000 credits = 1 USD)" in html
    assert "0 of 2.5 USD this month on openAI" in html


def test_it_shows_staff_everyones_usage_and_refuses_others(alice, bob, admin):
    record(alice, at=timezone.now(), cost="0.5")
    record(bob, at=timezone.now(), cost="1.5", model="gpt-4o-mini")
    assert signed_in(alice).get("/usage/admin/").status_code == 403
    assert signed_in(alice).get("/usage/admin/export.csv?by=user").status_code == 403
    html = signed_in(admin).get("/usage/admin/").content.decode()
    assert "alice" in html and "bob" in html and "gpt-4o-mini" in html
    assert "export.csv?by=user" in html and "export.csv?by=model" in html


def test_it_exports_csv_per_user_per_model_and_per_record(alice, bob, admin):
    record(alice, at=timezone.now(), cost="0.5")
    record(bob, at=timezone.now(), cost="1.5", model="=HYPERLINK(1)")

    def rows(by: str) -> list[list[str]]:
        response = signed_in(admin).get(f"/usage/admin/export.csv?by={by}")
        assert response["Content-Type"] == "text/csv"
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    by_user = rows("user")
    assert by_user[0] == ["user_id", "username", "requests", "prompt_tokens", "completion_tokens", "cost_usd",
                          "unpriced_requests"]  # fmt: skip
    assert [r[1] for r in by_user[1:]] == ["bob", "alice"] and by_user[1][5] == "1.5"
    by_model = rows("model")
    assert ["openAI", "'=HYPERLINK(1)", "1", "100", "50", "1.5", "0"] in by_model  # no formulas in a spreadsheet
    assert len(rows("records")) == 3


# --- admin ---------------------------------------------------------------------------------------


@pytest.fixture
def superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("boss", password="pw-boss")


def test_it_lists_records_read_only_in_admin_with_totals(alice, superuser):
    record(alice, cost="0.25", endpoint="openAI")
    record(alice, cost="0.5", endpoint="anthropic", model="claude-sonnet-4-5")
    client = signed_in(superuser)
    html = client.get("/admin/usage/usagerecord/").content.decode()
    assert "Totals of the filtered records" in html and "0.75 USD" in html
    filtered = client.get("/admin/usage/usagerecord/?endpoint=anthropic").content.decode()
    assert "0.5 USD" in filtered and "1 request," in filtered
    assert client.get("/admin/usage/usagerecord/add/").status_code == 403
    row = UsageRecord.objects.first()
    assert row is not None
    page = client.get(f"/admin/usage/usagerecord/{row.pk}/change/").content.decode()
    assert 'name="cost_usd"' not in page  # shown, not editable


def test_it_flags_models_without_a_known_price_in_admin(superuser, alice):
    seed("""
version: 1.3.14
endpoints:
  custom:
    - name: local
      apiKey: k
      baseURL: http://127.0.0.1:9/v1
      models:
        default: ['gpt-4o', 'my-finetune', {name: 'priced-finetune', prices: {prompt: 1, completion: 2}}]
""")
    record(alice, endpoint="local", model="my-finetune", cost=None)
    record(alice, endpoint="local", model="fetched-only", cost=None)
    html = signed_in(superuser).get("/admin/usage/unpricedmodel/").content.decode()
    assert "my-finetune" in html and "Set prices" in html
    assert "priced-finetune" not in html and ">gpt-4o<" not in html  # overridden / in genai-prices
    assert "fetched-only" in html  # answered without a price, not configured
