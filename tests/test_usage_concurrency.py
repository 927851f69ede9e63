"""Concurrency proofs on PostgreSQL, with real connections from real threads:

* 1,000 concurrent finalizations (settle the hold, charge the cost, finish the record) sum
  exactly, and replaying every one of them adds nothing;
* a budget with room for M requests, hit by 10 x M reservations at once, admits exactly M and
  leaves nothing held afterwards.

SQLite has a single writer, so these races cannot happen there: the tests are skipped.
Run them with ``DATABASE_URL=postgres://… .venv/bin/pytest -p no:xdist tests/test_usage_concurrency.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from django.db import connection, connections
from django.db.models import Sum

from core.outcome import Outcome
from tests.helpers import make_user
from usage import ledger as services
from usage.budgets import config as budget_config
from usage.budgets import holds
from usage.models import Balance, BalanceSettings, Period, Reservation, SpendingLimit, SpendingWindow, UsageRecord

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (set DATABASE_URL=postgres://…): SQLite serializes writers, so there is no race",
    ),
]

T = TypeVar("T")
FINALIZATIONS = 1000
WORKERS = 24
M = 5


def in_threads(tasks: list[Callable[[], T]], workers: int = WORKERS) -> list[T]:
    """Run the tasks on ``workers`` threads at once, each thread with its own database connection."""
    results: list[Any] = [None] * len(tasks)
    queue = iter(enumerate(tasks))
    lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                with lock:
                    index, task = next(queue, (-1, None))
                if task is None:
                    return
                try:
                    results[index] = task()
                except BaseException as exc:
                    results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def all_at_once(tasks: list[Callable[[], T]]) -> list[T | BaseException]:
    """One thread per task, released together by a barrier once every thread holds a connection."""
    barrier = threading.Barrier(len(tasks))
    results: list[T | BaseException] = [RuntimeError("not run")] * len(tasks)

    def run(index: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            results[index] = tasks[index]()
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_it_sums_1000_concurrent_finalizations_exactly_and_a_replay_adds_nothing():
    user = make_user()
    BalanceSettings.objects.create(enabled=True)
    start = Decimal(1_000_000_000)  # 1,000 USD in token credits
    Balance.objects.create(user=user, credits=start)
    SpendingLimit.objects.create(user=user, period=Period.MONTH, amount_usd=Decimal(1000))
    config = budget_config.build_config()
    ids = [f"req_{n:04d}" for n in range(FINALIZATIONS)]
    costs = [Decimal(n) * Decimal("0.000000137") + Decimal("0.000012345") for n in range(FINALIZATIONS)]
    UsageRecord.objects.bulk_create(
        [UsageRecord(request_id=i, user=user, endpoint="openAI", model="gpt-4o") for i in ids]
    )

    def hold(request_id: str) -> Callable[[], Any]:
        return lambda: holds.reserve_sync(request_id, user.pk, "openAI", Decimal("0.01"), config)

    assert all(r is not None for r in in_threads([hold(i) for i in ids]))
    assert Balance.objects.get(user=user).reserved == FINALIZATIONS * Decimal(10_000)

    def finalize(request_id: str, cost: Decimal) -> Callable[[], tuple[bool, bool]]:
        outcome = Outcome(status="ok", prompt_tokens=10, completion_tokens=5, cost_usd=cost)
        return lambda: (holds.settle_sync(request_id, cost), services.finish_sync(request_id, outcome))

    finals = [finalize(i, c) for i, c in zip(ids, costs, strict=True)]
    assert in_threads(finals) == [(True, True)] * FINALIZATIONS

    expected = sum(costs, Decimal(0))
    spent = UsageRecord.objects.aggregate(total=Sum("cost_usd"), tokens=Sum("prompt_tokens"))

    def unchanged() -> None:
        assert UsageRecord.objects.aggregate(total=Sum("cost_usd"), tokens=Sum("prompt_tokens")) == spent
        assert spent["total"] == expected and spent["tokens"] == 10 * FINALIZATIONS
        assert UsageRecord.objects.exclude(status="ok").count() == 0
        balance = Balance.objects.get(user=user)
        assert (balance.credits, balance.reserved) == (start - expected * 1_000_000, 0)
        window = SpendingWindow.objects.get()
        assert (window.spent_usd, window.reserved_usd) == (expected, 0)
        assert not Reservation.objects.exists()

    unchanged()
    replays = [finalize(i, c * 7) for i, c in zip(ids, costs, strict=True)]
    assert in_threads(replays) == [(False, False)] * FINALIZATIONS
    unchanged()


@pytest.mark.parametrize("account", ["balance", "limit", "both"])
def test_it_admits_exactly_m_of_10m_concurrent_reservations_and_leaves_nothing_held(account):
    user = make_user()
    estimate = Decimal("0.0025")
    if account in ("balance", "both"):
        BalanceSettings.objects.create(enabled=True)
        Balance.objects.create(user=user, credits=M * estimate * 1_000_000)
    if account in ("limit", "both"):
        SpendingLimit.objects.create(endpoint="openAI", period=Period.DAY, amount_usd=M * estimate)
    config = budget_config.build_config()

    def attempt(n: int) -> Callable[[], Any]:
        return lambda: holds.reserve_sync(f"req_{n}", user.pk, "openAI", estimate, config)

    results = all_at_once([attempt(n) for n in range(10 * M)])
    admitted = [r for r in results if r is not None and not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, holds.BudgetExceeded)]
    assert (len(admitted), len(refused)) == (M, 9 * M), [r for r in results if isinstance(r, BaseException)][:3]
    assert Reservation.objects.count() == M

    in_threads([lambda r=r: holds.settle_sync(r.request_id, estimate / 2) for r in admitted])
    assert not Reservation.objects.exists()
    if account in ("balance", "both"):
        balance = Balance.objects.get(user=user)
        assert (balance.reserved, balance.credits) == (0, M * estimate * 1_000_000 / 2)
    if account in ("limit", "both"):
        window = SpendingWindow.objects.get()
        assert (window.reserved_usd, window.spent_usd) == (0, M * estimate / 2)
