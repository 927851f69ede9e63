"""A worker killed mid-stream (issue 13, point 11): what it had streamed is on its usage row and
charged, and its budget hold lapses within one lease instead of waiting for an hourly reaper."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import httpx2
import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.fakes import Reply
from tests.helpers import api_token, seed_fake_endpoint
from tests.processes import ServerProcess
from usage.budgets.holds import release_lapsed
from usage.models import Balance, BalanceSettings, Period, Reservation, SpendingLimit, SpendingWindow, UsageRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.multiprocess]


def wait_until(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_it_charges_what_a_killed_worker_streamed_and_lets_its_hold_lapse(fake_openai):
    seed_fake_endpoint(fake_openai.base_url)
    fake_openai.reply = Reply(text=["word "] * 400, delay=0.05)  # twenty seconds of answer
    BalanceSettings.objects.update_or_create(pk=1, defaults={"enabled": True, "start_balance": Decimal(0)})
    token = api_token()
    user_id = UsageRecord._meta.get_field("user").related_model.objects.get().pk  # type: ignore[union-attr]
    Balance.objects.create(user_id=user_id, credits=Decimal(1_000_000))
    SpendingLimit.objects.create(period=Period.DAY, amount_usd=Decimal(1), shared=True)
    worker = ServerProcess(USAGE_PROGRESS_SECONDS="0.5", BUDGET_LEASE_SECONDS="2")
    try:
        worker.wait_ready()
        body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}

        def chat() -> None:
            try:
                with httpx2.stream("POST", f"{worker.url}/api/chat", json=body, timeout=60,
                                   headers={"Authorization": f"Bearer {token}"}) as response:  # fmt: skip
                    for _ in response.iter_raw():
                        pass
            except httpx2.HTTPError:
                pass  # the worker dies under it

        threading.Thread(target=chat, daemon=True).start()
        assert wait_until(lambda: UsageRecord.objects.filter(status="pending", completion_tokens__gt=5).exists())
    finally:
        worker.kill()
        worker.stop()
    row = UsageRecord.objects.get()
    assert (row.status, row.answered_endpoint, row.answered_model) == ("pending", "fakeai", "gpt-4o")
    assert row.estimated and row.cost_usd and row.cost_usd > 0  # the running count, priced
    assert Reservation.objects.count() == 1 and Balance.objects.get(user_id=user_id).reserved > 0

    time.sleep(2.5)  # past the lease: nobody renews it any more
    assert release_lapsed() == 1  # what the next reservation anywhere does on its way (at most every 30 s)
    row.refresh_from_db()
    balance = Balance.objects.get(user_id=user_id)
    assert balance.reserved == 0 and balance.credits < Decimal(1_000_000)
    window = SpendingWindow.objects.get()
    assert window.reserved_usd == 0 and window.spent_usd > 0

    UsageRecord.objects.filter(pk=row.pk).update(progressed_at=timezone.now() - timedelta(hours=1))
    call_command("reap_usage", older_than=600)
    row.refresh_from_db()
    assert (row.status, row.error_type) == ("error", "worker_lost")
    assert row.completion_tokens > 5 and row.cost_usd == window.spent_usd  # kept, and charged exactly that
