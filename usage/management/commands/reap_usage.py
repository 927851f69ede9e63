"""python manage.py reap_usage [--older-than SECONDS]

A worker killed in the middle of a chat leaves its usage row ``pending``.  Its budget
holds lapse by themselves (leases, given back at the next reservation), but this
closes both: rows that have not progressed for the threshold (a streaming chat writes
its running count every ``USAGE_PROGRESS_SECONDS``) are closed as ``error`` /
``worker_lost`` with what they had streamed, and their holds are given back charging
that.  Run it from cron (or by hand); re-running it changes nothing more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.utils import timezone

from usage.budgets.holds import release_lapsed
from usage.models import Status, UsageRecord

LOST = "worker_lost"


class Command(BaseCommand):
    help = "Close usage rows and budget holds left behind by a worker that died mid-request."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=int, default=600, help="seconds a pending row may go without progress (default 600)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        age = timedelta(seconds=max(60, options["older_than"]))
        cutoff = timezone.now() - age
        stalled = Q(progressed_at__lt=cutoff) | Q(progressed_at__isnull=True, created_at__lt=cutoff)
        stalled_ids = list(
            UsageRecord.objects.filter(stalled, status=Status.PENDING).values_list("request_id", flat=True)
        )
        # Their holds first, charged the running count the rows still hold; then the rows.
        released = release_lapsed(older_than=age, usage_request_ids=stalled_ids)
        closed = UsageRecord.objects.filter(request_id__in=stalled_ids, status=Status.PENDING).update(
            status=Status.ERROR, error_type=LOST, finished_at=timezone.now()
        )
        self.stdout.write(f"closed {closed} pending usage row(s); released {released} budget hold(s)")
