"""One row per chat request, written exactly once.

A request inserts its row as ``pending`` before the upstream call and
finalizes it with a conditional UPDATE (``status='pending'`` in the WHERE), so
a replay or a second finalization changes nothing.  Money is ``Decimal``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
    CLIENT_ABORTED = "client_aborted"


class UsageRecord(models.Model):
    request_id = models.CharField(max_length=64, unique=True)
    conversation_id = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="usage")
    via = models.CharField(max_length=10, default="api", help_text="api, gateway or websocket")
    endpoint = models.CharField(max_length=100, blank=True, help_text="the endpoint asked for")
    model = models.CharField(max_length=255, blank=True, help_text="the model asked for")
    answered_endpoint = models.CharField(max_length=100, blank=True)
    answered_model = models.CharField(max_length=255, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    estimated = models.BooleanField(default=False)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=9, null=True, blank=True, help_text="empty: unknown")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error_type = models.CharField(max_length=40, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="time to first token")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.request_id} {self.endpoint}/{self.model} {self.status}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
