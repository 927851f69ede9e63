from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from usage.models import UsageRecord

pytestmark = pytest.mark.django_db


def test_it_closes_only_pending_rows_older_than_the_threshold_and_is_safe_to_rerun():
    old = UsageRecord.objects.create(request_id="req_old")
    UsageRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    UsageRecord.objects.create(request_id="req_running")
    done = UsageRecord.objects.create(request_id="req_done", status="ok")
    UsageRecord.objects.filter(pk=done.pk).update(created_at=timezone.now() - timedelta(hours=2))
    out = io.StringIO()
    call_command("reap_usage", "--older-than", "3600", stdout=out)
    assert "closed 1 pending usage row(s)" in out.getvalue()
    statuses = dict(UsageRecord.objects.values_list("request_id", "status"))
    assert statuses == {"req_old": "error", "req_running": "pending", "req_done": "ok"}
    assert UsageRecord.objects.get(request_id="req_old").error_type == "worker_lost"
    again = io.StringIO()
    call_command("reap_usage", stdout=again)
    assert "closed 0 pending usage row(s)" in again.getvalue()
