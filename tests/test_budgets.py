"""Balances and spending limits over a real ASGI server: refused with 402 before any upstream call,
charged the actual cost, and no hold left behind on any exit path."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from django.utils import timezone

from endpoints.catalog.snapshot import get_snapshot
from endpoints.chat import admission
from endpoints.chat.request import parse_call
from endpoints.chat.route import Route
from endpoints.config import ConfigError
from endpoints.models import Endpoint
from endpoints.providers.base import Target
from endpoints.providers.estimate import IMAGE_TOKENS
from tests.fakes.server import Fault, Reply
from tests.helpers import make_user, recorded, seed
from usage.budgets import config as budget_config
from usage.budgets import holds
from usage.models import (
    Balance,
    BalanceSettings,
    Period,
    Reservation,
    SpendingLimit,
    SpendingWindow,
    UsageRecord,
)

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{url}'
      models:
        default: ['gpt-4o', 'mystery-model', {{name: big, maxOutputTokens: 100000, prices: {{prompt: 1, completion: 1}}}}]
"""
#: What the fake reports (12 prompt + 7 completion tokens) at gpt-4o's $2.50 / $10 per 1M: 100 credits.
ACTUAL_USD = Decimal("0.0001")
ACTUAL_CREDITS = Decimal(100)
#: "Hi" is 8 prompt tokens (1 of text, 4 of the message's framing, 3 priming the answer); max_tokens 10:
#: 120 credits.
SMALL = {"parameters": {"max_tokens": 10}}


def ask(model: str = "gpt-4o", **extra: Any) -> dict[str, Any]:
    return {"endpoint": "fakeai", "model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}


class Chat:
    def __init__(self, url: str, token: str, user: Any) -> None:
        self.url, self.user = url, user
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: dict[str, Any]) -> httpx2.Response:
        return httpx2.post(f"{self.url}/api/chat", json=body, headers=self.headers, timeout=20)

    def read_first_delta_then_leave(self, body: dict[str, Any]) -> None:
        with httpx2.stream("POST", f"{self.url}/api/chat", json=body, headers=self.headers, timeout=20) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line == "event: delta":
                    return


@pytest.fixture
def chat(settings, fake_openai, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_CONCURRENT_MESSAGES = False
    seed(CONFIG.format(url=fake_openai.base_url))
    from rest_framework.authtoken.models import Token

    user = make_user()
    return Chat(asgi_server.url, Token.objects.create(user=user).key, user)


def balances(enabled: bool = True, **values: Any) -> None:
    BalanceSettings.objects.update_or_create(pk=1, defaults={"enabled": enabled, **values})


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def no_holds_left(user: Any) -> None:
    assert Reservation.objects.count() == 0
    assert all(b.reserved == 0 for b in Balance.objects.filter(user=user))
    assert all(w.reserved_usd == 0 for w in SpendingWindow.objects.all())


def test_it_refuses_with_402_before_any_upstream_call_when_the_balance_is_short(chat, fake_openai):
    balances()
    Balance.objects.create(user=chat.user, credits=Decimal(1000))
    response = chat.post(ask())  # "Hi": 8 prompt tokens; no max_tokens: 1024 completion tokens assumed
    assert response.status_code == 402
    body = response.json()
    assert body["type"] == "budget_exceeded" and body["scope"] == "balance"
    assert (body["balance"], body["token_cost"], body["estimated_cost_usd"]) == ("1000", "10260", "0.01026")
    assert "1,000,000 credits = 1 USD" in body["message"]
    assert fake_openai.requests == []
    record = recorded()
    assert (record.status, record.error_type) == ("error", "budget_exceeded")
    no_holds_left(chat.user)

    assert chat.post(ask(**SMALL)).status_code == 200  # a lower max_tokens fits
    assert Balance.objects.get(user=chat.user).credits == Decimal(1000) - ACTUAL_CREDITS
    no_holds_left(chat.user)


def test_it_counts_a_models_maximum_output_only_up_to_a_cap(chat, fake_openai):
    fake_openai.models = None
    balances()
    Balance.objects.create(user=chat.user, credits=Decimal(4200))  # 4096 + 5 tokens at $1 per 1M
    assert chat.post(ask("big", stream=False)).status_code == 200
    Balance.objects.filter(user=chat.user).update(credits=Decimal(4000))
    assert chat.post(ask("big", stream=False)).status_code == 402


def test_it_refuses_when_a_spending_limit_is_used_up(chat, fake_openai):
    SpendingLimit.objects.create(endpoint="fakeai", period=Period.DAY, amount_usd=Decimal("0.0002"))
    assert chat.post(ask(**SMALL)).status_code == 200  # 0.0001125 estimated, 0.0001 spent
    response = chat.post(ask(**SMALL))  # 0.0001 + 0.0001125 > 0.0002
    assert response.status_code == 402
    body = response.json()
    assert body["type"] == "budget_exceeded" and body["scope"] == "each_user"
    limit = body["limit"]
    assert (limit["amount_usd"], limit["spent_usd"], limit["period"], limit["endpoint"]) == (
        "0.0002", "0.0001", "day", "fakeai",
    )  # fmt: skip
    assert limit["resets_on"] == (timezone.localdate() + timedelta(days=1)).isoformat()
    assert len(fake_openai.requests) == 1
    window = SpendingWindow.objects.get()
    assert (window.spent_usd, window.reserved_usd, window.subject) == (ACTUAL_USD, 0, chat.user.pk)


def test_it_shares_a_pool_between_users_and_ignores_other_endpoints(chat, fake_openai):
    SpendingLimit.objects.create(shared=True, period=Period.MONTH, amount_usd=Decimal("0.00015"))
    SpendingLimit.objects.create(endpoint="elsewhere", period=Period.DAY, amount_usd=Decimal(0))
    assert chat.post(ask(**SMALL)).status_code == 200
    assert chat.post(ask(**SMALL)).status_code == 402
    window = SpendingWindow.objects.get()
    assert (window.subject, window.period_start) == (0, timezone.localdate().replace(day=1))


def _upstream_500(chat: Chat, fake: Any) -> None:
    fake.reply = Reply(status=500)
    assert chat.post(ask(**SMALL)).status_code == 502


def _upstream_401(chat: Chat, fake: Any) -> None:
    fake.reply = Reply(status=401)
    assert chat.post(ask(**SMALL)).status_code == 401


def _unknown_model(chat: Chat, fake: Any) -> None:
    assert chat.post(ask("not-offered", **SMALL)).status_code == 404


def _broken_stream(chat: Chat, fake: Any) -> None:
    fake.reply = Reply(fault=Fault.RESET, after=2)
    response = chat.post(ask(**SMALL))
    assert response.status_code == 200 and "event: error" in response.text


def _client_leaves(chat: Chat, fake: Any) -> None:
    fake.reply = Reply(text=["word "] * 200, delay=0.05)
    chat.read_first_delta_then_leave(ask(**SMALL))


def _ok(chat: Chat, fake: Any) -> None:
    assert chat.post(ask(**SMALL)).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [(_ok, "ok"), (_upstream_500, "error"), (_upstream_401, "error"), (_unknown_model, "error"),
     (_broken_stream, "error"), (_client_leaves, "client_aborted")],
)  # fmt: skip
def test_it_releases_the_hold_and_charges_what_was_used_on_every_exit_path(chat, fake_openai, path, status):
    balances()
    Balance.objects.create(user=chat.user, credits=Decimal(1_000_000))
    SpendingLimit.objects.create(user=chat.user, period=Period.MONTH, amount_usd=Decimal(1))
    path(chat, fake_openai)
    assert wait_until(lambda: UsageRecord.objects.exclude(status="pending").count() == 1)
    assert wait_until(lambda: not Reservation.objects.exists())
    record = recorded()
    assert record.status == status
    no_holds_left(chat.user)
    charged = record.cost_usd or Decimal(0)
    assert Balance.objects.get(user=chat.user).credits == Decimal(1_000_000) - charged * 1_000_000
    # A request refused before admission (no such model) holds nothing and opens no window.
    assert sum(w.spent_usd for w in SpendingWindow.objects.all()) == charged
    if status == "client_aborted":
        assert charged > 0 and record.estimated  # what was streamed before the client left


def test_it_starts_users_at_the_yaml_start_balance_and_refills_them_when_due(chat, fake_openai):
    seed(CONFIG.format(url=fake_openai.base_url) + """
balance:
  enabled: true
  startBalance: 200
  autoRefillEnabled: true
  refillIntervalValue: 1
  refillIntervalUnit: days
  refillAmount: 1000000
""")  # fmt: skip
    assert chat.post(ask(**SMALL)).status_code == 200
    assert Balance.objects.get(user=chat.user).credits == Decimal(200) - ACTUAL_CREDITS
    assert chat.post(ask(**SMALL)).status_code == 402  # 120 > 100 left, and not refilled yet
    Balance.objects.filter(user=chat.user).update(last_refill=timezone.now() - timedelta(days=1, seconds=1))
    assert chat.post(ask(**SMALL)).status_code == 200
    balance = Balance.objects.get(user=chat.user)
    assert balance.credits == Decimal(1_000_000)  # 100 + 1,000,000 - 100
    assert balance.last_refill > timezone.now() - timedelta(minutes=1)


def test_it_charges_nothing_for_a_model_without_a_price_when_allowed_but_needs_some_balance(
    chat, fake_openai, settings
):
    settings.UNPRICED_MODELS = "allow"
    fake_openai.models = None
    balances()
    Balance.objects.create(user=chat.user, credits=Decimal(50))
    assert chat.post(ask("mystery-model")).status_code == 200
    record = recorded()
    assert (record.cost_usd, record.prompt_tokens, record.completion_tokens) == (None, 12, 7)
    assert Balance.objects.get(user=chat.user).credits == Decimal(50)
    Balance.objects.filter(user=chat.user).update(credits=0)
    response = chat.post(ask("mystery-model"))
    assert response.status_code == 402 and response.json()["estimated_cost_usd"] is None


def test_it_counts_a_model_without_a_price_at_the_default_price(chat, fake_openai, settings):
    """Issue 13: by default an unpriced model is not free for a budgeted user."""
    assert settings.UNPRICED_MODELS == "estimate"
    settings.UNPRICED_PROMPT_PRICE, settings.UNPRICED_COMPLETION_PRICE = 10.0, 30.0
    fake_openai.models = None
    balances()
    Balance.objects.create(user=chat.user, credits=Decimal(1_000_000))
    assert chat.post(ask("mystery-model", **SMALL)).status_code == 200
    record = recorded()
    assert record.cost_usd is None  # the record says what is true: no price
    # 12 prompt tokens at $10 and 7 completion tokens at $30 per 1M: 330 credits.
    assert wait_until(lambda: Balance.objects.get(user=chat.user).credits == Decimal(1_000_000 - 330))
    Balance.objects.filter(user=chat.user).update(credits=100)  # the estimate (10 tokens' worth and more) is not
    assert chat.post(ask("mystery-model", **SMALL)).status_code == 402


def test_it_refuses_a_model_without_a_price_to_a_budgeted_user_when_asked(chat, fake_openai, settings):
    settings.UNPRICED_MODELS = "refuse"
    fake_openai.models = None
    SpendingLimit.objects.create(user=chat.user, period=Period.DAY, amount_usd=Decimal(1))
    response = chat.post(ask("mystery-model"))
    assert response.status_code == 402 and response.json()["scope"] == "unpriced"
    assert chat.post(ask()).status_code == 200  # a priced model is fine
    assert not fake_openai.requests[:-1]


# --- without a server ---------------------------------------------------------------------------


def test_it_settles_each_reservation_exactly_once():
    user = make_user()
    balances()
    Balance.objects.create(user=user, credits=Decimal(1000))
    config = budget_config.build_config()
    assert holds.reserve_sync("req_1", user.pk, "fakeai", Decimal("0.0005"), config) is not None
    assert Balance.objects.get(user=user).reserved == Decimal(500)
    assert holds.settle_sync("req_1", Decimal("0.0002")) is True
    assert holds.settle_sync("req_1", Decimal("0.0002")) is False
    balance = Balance.objects.get(user=user)
    assert (balance.credits, balance.reserved) == (Decimal(800), Decimal(0))


def test_it_never_leaves_a_balance_below_zero_like_librechat():
    user = make_user()
    balances()
    Balance.objects.create(user=user, credits=Decimal(1000))
    holds.reserve_sync("req_1", user.pk, "fakeai", Decimal("0.0009"), budget_config.build_config())
    holds.settle_sync("req_1", Decimal("0.005"))  # the answer cost more than estimated
    assert Balance.objects.get(user=user).credits == 0


def test_it_estimates_prompt_and_completion_tokens(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    seed(CONFIG.format(url="http://127.0.0.1:9/v1"))
    endpoint = get_snapshot().get("fakeai")
    assert endpoint is not None
    text = {"role": "user", "content": "word " * 100}
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}

    def route(model: str) -> Route:
        return Route(endpoint, model, endpoint.model(model), Target("openai", "http://127.0.0.1:9/v1", "k"))

    call = parse_call({"endpoint": "fakeai", "model": "gpt-4o", "messages": [text, image]})
    guess = admission.estimate(call, route("gpt-4o"))
    # 100 words, 4 tokens of framing for each message and 3 priming the answer, and an image whose
    # size cannot be read (a typical one in OpenAI's high detail)
    assert (guess.prompt_tokens, guess.completion_tokens) == (100 + 2 * 4 + 3 + IMAGE_TOKENS["openai"], 1024)
    call = parse_call({"endpoint": "fakeai", "model": "gpt-4o", "messages": [text], "parameters": {"max_tokens": 7}})
    guess = admission.estimate(call, route("gpt-4o"))
    assert guess.completion_tokens == 7
    assert guess.cost_usd == (Decimal(100 + 4 + 3) * Decimal("2.5") + 7 * 10) / 1_000_000
    call = parse_call({"endpoint": "fakeai", "model": "big", "messages": [text]})
    assert admission.estimate(call, route("big")).completion_tokens == admission.COMPLETION_CAP


def test_it_seeds_balance_settings_and_rejects_bad_ones_changing_nothing():
    good = "version: 1.3.14\nbalance:\n  enabled: true\n  startBalance: 5000\n  refillIntervalUnit: hours\n"
    report = seed(good)
    row = BalanceSettings.objects.get()
    assert (row.enabled, row.start_balance, row.refill_interval_unit, row.refill_amount) == (
        True, Decimal(5000), "hours", Decimal(10000),
    )  # fmt: skip
    assert "created balance settings" in report.changes
    assert seed(good).changes == []  # idempotent

    bad = """
version: 1.3.14
endpoints:
  custom:
    - {name: new, apiKey: k, baseURL: 'http://127.0.0.1:9/v1', models: {default: [m]}}
balance:
  enabled: yes please
  startBalance: -5
  refillIntervalUnit: fortnights
  refillIntervalValue: 0
  refilAmount: 3
"""
    with pytest.raises(ConfigError) as raised:
        seed(bad)
    paths = {problem.path for problem in raised.value.problems}
    # (refilAmount: LibreChat ignores keys it does not know there; seeding warns about it)
    assert paths == {"balance.enabled", "balance.startBalance", "balance.refillIntervalUnit",
                     "balance.refillIntervalValue"}  # fmt: skip
    assert not Endpoint.objects.filter(name="new").exists()  # all or nothing
    assert BalanceSettings.objects.get().start_balance == Decimal(5000)


def test_it_keeps_balance_settings_edited_in_admin_unless_overwriting():
    seed("version: 1.3.14\nbalance: {enabled: true, startBalance: 5000}\n")
    BalanceSettings.objects.filter(pk=1).update(start_balance=Decimal(7), admin_modified=True, source="admin")
    report = seed("version: 1.3.14\nbalance: {enabled: true, startBalance: 6000}\n")
    assert report.kept == ["kept balance settings: edited in admin (use --overwrite to replace)"]
    assert BalanceSettings.objects.get().start_balance == Decimal(7)
    seed("version: 1.3.14\nbalance: {enabled: true, startBalance: 6000}\n", overwrite=True)
    row = BalanceSettings.objects.get()
    assert (row.start_balance, row.admin_modified, row.source) == (Decimal(6000), False, "yaml")


def test_it_turns_balances_off_when_the_yaml_drops_them_and_exports_them():
    from endpoints.config.balance import export_balance

    assert export_balance() is None
    seed("version: 1.3.14\nbalance: {enabled: true, startBalance: 2500.5, autoRefillEnabled: true}\n")
    assert export_balance() == {
        "enabled": True, "startBalance": 2500.5, "autoRefillEnabled": True, "refillIntervalValue": 30,
        "refillIntervalUnit": "days", "refillAmount": 10000,
    }  # fmt: skip
    report = seed("version: 1.3.14\n")
    assert report.changes == ["updated balance settings: enabled, start_balance, auto_refill_enabled"]
    assert BalanceSettings.objects.get().enabled is False
    BalanceSettings.objects.filter(pk=1).update(enabled=True, source="admin")
    seed("version: 1.3.14\n")
    assert BalanceSettings.objects.get().enabled is True  # made in admin: kept
