"""One row per chat request, written exactly once; balances and spending limits.

A request inserts its row as ``pending`` before the upstream call and
finalizes it with a conditional UPDATE (``status='pending'`` in the WHERE), so
a replay or a second finalization changes nothing.  Money is ``Decimal``:
USD in records and limits, LibreChat's token credits (1,000,000 = 1 USD) in
balances.  What a request in flight holds of a balance or a limit is in
``reserved`` columns, taken and given back by :mod:`usage.budgets`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from endpoints.models import EndpointModel


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
    answered_deployment = models.CharField(max_length=100, blank=True,
                                           help_text="which of the model's deployments answered")  # fmt: skip
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
    #: While pending: when the running count (tokens and cost streamed so far) was last written; a
    #: row that stops progressing belonged to a worker that died (``reap_usage`` closes it).
    progressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.request_id} {self.endpoint}/{self.model} {self.status}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# --- balances and spending limits (usage.budgets) ---------------------------------------

#: LibreChat counts balances in "token credits": 1,000,000 credits = 1 USD (1,000 credits = 1 mill).
CREDITS_PER_USD = Decimal(1_000_000)


class RefillUnit(models.TextChoices):
    """LibreChat's ``refillIntervalUnit`` values (data-provider ``REFILL_INTERVAL_UNITS``)."""

    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


class Source(models.TextChoices):
    YAML = "yaml"
    ADMIN = "admin"


def _credits_field(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=24, decimal_places=6, **kwargs)


class BalanceSettings(models.Model):
    """LibreChat's ``balance:`` settings (librechat.yaml), one row.  Seeded from the yaml; editable in admin.

    Amounts are token credits (1,000,000 = 1 USD), as in LibreChat.
    """

    enabled = models.BooleanField(default=False, help_text="Track and enforce a per-user balance.")
    start_balance = _credits_field(default=Decimal(20000), validators=[MinValueValidator(0)],
                                   help_text="Credits a user starts with (1,000,000 credits = 1 USD).")  # fmt: skip
    auto_refill_enabled = models.BooleanField(default=False)
    refill_interval_value = models.PositiveIntegerField(default=30)
    refill_interval_unit = models.CharField(max_length=10, choices=RefillUnit.choices, default=RefillUnit.DAYS)
    refill_amount = _credits_field(default=Decimal(10000), validators=[MinValueValidator(0)])
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN, editable=False)
    admin_modified = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "balance settings"

    def __str__(self) -> str:
        return "Balances " + ("enabled" if self.enabled else "disabled")

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # a single row
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> BalanceSettings:
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Balance(models.Model):
    """A user's token credits, and what running requests hold of them (``reserved``).

    A request is admitted by one conditional UPDATE (``credits - reserved >= estimate``)
    and settled by another; see :mod:`usage.budgets`.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_balance")
    credits = _credits_field(default=Decimal(0), help_text="Token credits (1,000,000 = 1 USD).")
    reserved = _credits_field(default=Decimal(0), editable=False, help_text="Held by requests in flight.")
    last_refill = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="balance_reserved_not_negative"),
            models.CheckConstraint(condition=models.Q(credits__gte=0), name="balance_credits_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.credits} credits"

    @property
    def available(self) -> Decimal:
        return self.credits - self.reserved

    @property
    def usd(self) -> Decimal:
        return self.credits / CREDITS_PER_USD


class Period(models.TextChoices):
    DAY = "day"
    MONTH = "month"


class SpendingLimit(models.Model):
    """At most ``amount_usd`` per day or month: for one user or for each user, on one endpoint or on all.

    With ``shared`` (and no user) the amount is one pool for everybody together,
    e.g. "the openAI endpoint may spend $50 a day in total".
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="spending_limits", help_text="Empty: every user.")  # fmt: skip
    endpoint = models.CharField(max_length=100, blank=True, help_text="Empty: all endpoints together.")
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.DAY)
    amount_usd = models.DecimalField(max_digits=14, decimal_places=6, validators=[MinValueValidator(0)])
    shared = models.BooleanField(default=False, help_text="One pool for all users together (only without a user).")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "endpoint", "period"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_usd__gte=0), name="spending_limit_not_negative"),
        ]

    def __str__(self) -> str:
        who = str(self.user) if self.user_id else ("all users together" if self.shared else "each user")
        return f"{self.amount_usd} USD per {self.period}, {who}, {self.endpoint or 'all endpoints'}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.shared and self.user_id:
            raise ValidationError({"shared": "A limit for one user cannot be shared."})


class SpendingWindow(models.Model):
    """One period (a day or a month) of one limit for one subject: what was spent and what is held."""

    limit = models.ForeignKey(SpendingLimit, on_delete=models.CASCADE, related_name="windows")
    subject = models.BigIntegerField(help_text="The user id, or 0 for a shared limit.")
    period_start = models.DateField()
    spent_usd = models.DecimalField(max_digits=18, decimal_places=9, default=Decimal(0))
    reserved_usd = models.DecimalField(max_digits=18, decimal_places=9, default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["limit", "subject", "period_start"], name="unique_spending_window"),
            models.CheckConstraint(condition=models.Q(reserved_usd__gte=0), name="window_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.limit} from {self.period_start}: {self.spent_usd} spent"


class Reservation(models.Model):
    """What one target of a request in flight holds: deleted (exactly once) when the request
    settles, or once its lease lapses (its worker died) charging what was streamed."""

    request_id = models.CharField(max_length=64, unique=True, help_text="the request's id, '#' and the attempt")
    usage_request_id = models.CharField(max_length=64, blank=True, db_index=True, help_text="its usage row")
    endpoint = models.CharField(max_length=100, blank=True, help_text="the target it holds for")
    model = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True, help_text="renewed while it streams")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    estimate_usd = models.DecimalField(max_digits=18, decimal_places=9)
    credits = _credits_field(null=True, blank=True, help_text="Held on the user's balance; empty: none.")
    window_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id}: {self.estimate_usd} USD"


class UnpricedModel(EndpointModel):
    """Configured models with no known price (neither an override nor the catalog): admin lists them."""

    class Meta:
        proxy = True
        verbose_name = "unpriced model"


# --- the cached budget configuration (usage.budgets.config.load_config) ----------------------------

BUDGET_CONFIG_KEY = "usage:budget-config"


def forget_budget_config(**_: Any) -> None:
    """Any change to balance settings or limits: this worker sees it at once, the others within
    a second (``usage.budgets.config.LOCAL_CONFIG_SECONDS``)."""
    from django.core.cache import cache
    from django.db import transaction

    from core import memo

    cache.delete(BUDGET_CONFIG_KEY)
    memo.forget(BUDGET_CONFIG_KEY)

    def again() -> None:
        cache.delete(BUDGET_CONFIG_KEY)
        memo.forget(BUDGET_CONFIG_KEY)

    transaction.on_commit(again)


for _model in (BalanceSettings, SpendingLimit):
    models.signals.post_save.connect(forget_budget_config, sender=_model, dispatch_uid=f"forget-{_model.__name__}")
    models.signals.post_delete.connect(
        forget_budget_config, sender=_model, dispatch_uid=f"forget-del-{_model.__name__}"
    )
