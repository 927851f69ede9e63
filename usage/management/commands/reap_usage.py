"""python manage.py reap_usage [--older-than SECONDS]

A worker killed in the middle of a chat leaves its usage row ``pending`` and its
budget hold in place.  Run this from cron (or by hand): rows and holds older
than the threshold — far longer than any chat — are closed as ``error`` /
``worker_lost`` and given back.  Re-running it changes nothing more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from usage.budgets.holds import release_stale
from usage.models import Status, UsageRecord

LOST = "worker_lost"


class Command(BaseCommand):
    help = "Close usage rows and budget holds left behind by a worker that died mid-request."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=int, default=3600, help="seconds a row may stay pending (default 3600)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        age = timedelta(seconds=max(60, options["older_than"]))
        cutoff = timezone.now() - age
        closed = UsageRecord.objects.filter(status=Status.PENDING, created_at__lt=cutoff).update(
            status=Status.ERROR, error_type=LOST, finished_at=timezone.now()
        )
        released = release_stale(age)
        self.stdout.write(f"closed {closed} pending usage row(s); released {released} budget hold(s)")
