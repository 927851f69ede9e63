"""The usage API's query parameters and records (CONTRACT §8).

Money is written as a decimal string (``"0.0000475"``): exact, never a float.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import ApiError
from endpoints.models import EndUser
from usage.models import Status, UsageRecord
from usage.money import money
from usage.reports import filter_records

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


@extend_schema_field({"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$",
                     "description": "USD as a decimal string; null: unknown (no price)"})  # fmt: skip
class MoneyField(serializers.Field):
    """A Decimal as a plain decimal string; None stays None (cost unknown)."""

    def to_representation(self, value: Decimal | None) -> str | None:
        return money(value) if value is not None else None


@extend_schema_field({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"const": ""}],
                     "description": "YYYY-MM-DD (the whole day) or an ISO date-time; empty: not given"})  # fmt: skip
class MomentField(serializers.Field):
    """An ISO date (``2026-11-27``: the whole day, in the server's time zone) or date-time."""

    default_error_messages = {
        "invalid": "Use an ISO date (YYYY-MM-DD) or date-time.",
        "range": "Use a date from 1900 to 9998 (no usage is older or newer).",
    }

    def to_internal_value(self, data: Any) -> date | datetime:
        text = str(data).strip()
        try:
            moment: date | datetime | None = parse_datetime(text) if "T" in text or " " in text else parse_date(text)
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        assert moment is not None
        if not 1900 <= moment.year <= 9998:  # the day after, or a time zone, would overflow
            self.fail("range")
        if isinstance(moment, datetime) and timezone.is_aware(moment):
            moment = moment.astimezone(UTC)  # any offset Python reads; databases take fewer (+19:07 …)
        return moment


def _start(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    return timezone.make_aware(datetime.combine(moment, time.min))


def _end(moment: date | datetime) -> datetime:
    """``to`` is inclusive for a date (its whole day), exclusive for a date-time."""
    if isinstance(moment, datetime):
        return _start(moment)
    return _start(moment + timedelta(days=1))


class UsageQuerySerializer(serializers.Serializer):
    """``from``, ``to``, ``endpoint``, ``model``, ``status``, ``user`` (admins), ``cursor``, ``page_size``."""

    # An empty parameter means "not given" (allow_blank says so in the schema, too).
    to = MomentField(required=False)
    endpoint = serializers.CharField(required=False, allow_blank=True, max_length=100)
    model = serializers.CharField(required=False, allow_blank=True, max_length=255)
    status = serializers.ChoiceField(required=False, allow_blank=True, choices=Status.choices)
    user = serializers.CharField(required=False, allow_blank=True, max_length=150,
                                 help_text="Staff: a user id or username, or all")  # fmt: skip
    end_user = serializers.CharField(required=False, allow_blank=True, max_length=254,
                                     help_text="The records of an end user a service token acted for: the id the app "
                                     "sent (X-End-User-Id, user) or their email; a service's owner sees only theirs")  # fmt: skip
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                   help_text="The `next` link's cursor (opaque)")  # fmt: skip
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = MomentField(required=False)  # a keyword in Python: no class attribute

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "from" in attrs and "to" in attrs and _start(attrs["from"]) >= _end(attrs["to"]):
            raise serializers.ValidationError({"to": ["Must be after from."]})
        return attrs

    @property
    def everyone(self) -> bool:
        return self.validated_data.get("user") == "all"

    def whose(self, caller: Any) -> Q | None:
        """Whose records: the caller's; another user's for an admin, or for the owner of a service token
        one of the end users it acts for; ``all``: everyone's for an admin, the caller's and their end
        users' for a service's owner.  None: everyone's."""
        wanted = self.validated_data.get("user") or None
        if wanted is None or wanted in (str(caller.pk), caller.get_username()):
            return Q(user=caller)
        if wanted == "all":
            if caller.is_staff:
                return None
            if EndUser.objects.filter(service_owner=caller.pk).exists():
                return Q(user=caller) | Q(user__end_user__service_owner=caller.pk)
            raise ApiError("permission_denied", "Only administrators can see other users' usage.", status=403)
        users = get_user_model().objects
        numeric = wanted.isascii() and wanted.isdigit() and len(wanted) < 19  # "²" is a digit, not a number
        found = (users.filter(pk=int(wanted)) if numeric else users.none()).first() or users.filter(
            **{users.model.USERNAME_FIELD: wanted}
        ).first()
        if not caller.is_staff and (found is None or not EndUser.objects.filter(user=found, service_owner=caller.pk)
                                    .exists()):  # fmt: skip
            raise ApiError("permission_denied", "Only administrators can see other users' usage (and a service's "
                           "owner, its end users').", status=403)  # fmt: skip
        if found is None:
            raise ApiError("not_found", f"There is no user {wanted!r}.", status=404)
        return Q(user=found)

    def records(self, caller: Any) -> QuerySet[UsageRecord]:
        data = self.validated_data
        whose = self.whose(caller)
        end_user = data.get("end_user")
        if end_user and not data.get("user"):
            whose = None  # an end user's records, not the caller's own: narrowed just below
        records = UsageRecord.objects.all() if whose is None else UsageRecord.objects.filter(whose)
        if end_user:
            acted = Q(user__end_user__external_id=end_user) | Q(user__end_user__email=end_user.lower())
            if not caller.is_staff:
                acted &= Q(user__end_user__service_owner=caller.pk)
            records = records.filter(acted)
        return filter_records(
            records,
            start=_start(data["from"]) if "from" in data else None,
            end=_end(data["to"]) if "to" in data else None,
            endpoint=data.get("endpoint", ""),
            model=data.get("model", ""),
            status=data.get("status", ""),
        )


class EndUserSerializer(serializers.Serializer):
    """Whom a service token acted for: the id its app sent, their email, and the service's owner."""

    id = serializers.CharField(source="external_id", help_text="The app's id for them; empty: known by email")
    email = serializers.CharField()
    service = serializers.CharField(source="service_owner.username", help_text="Who holds the service token")


class UsageRecordSerializer(serializers.ModelSerializer):
    cost_usd = MoneyField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None,
                                 help_text="Whose request; null: the user was deleted")  # fmt: skip
    end_user = serializers.SerializerMethodField(help_text="Set when a service token acted for this person")

    class Meta:
        model = UsageRecord
        fields = [
            "request_id", "conversation_id", "user", "end_user", "endpoint", "model", "answered_endpoint",
            "answered_model", "prompt_tokens", "completion_tokens", "cached_tokens", "estimated", "cost_usd",
            "status", "error_type", "latency_ms", "ttft_ms", "created_at",
        ]  # fmt: skip

    @extend_schema_field(EndUserSerializer(allow_null=True))
    def get_end_user(self, record: UsageRecord) -> dict[str, Any] | None:
        try:
            acted = record.user.end_user if record.user is not None else None
        except ObjectDoesNotExist:
            return None
        return EndUserSerializer(acted).data if acted is not None else None


def _totals(name: str, **keys: serializers.Field) -> type[serializers.Serializer]:
    """A serializer of one group's totals, its key fields first (DRF orders fields by creation)."""
    fields = {
        **keys,
        "requests": serializers.IntegerField(),
        "prompt_tokens": serializers.IntegerField(),
        "completion_tokens": serializers.IntegerField(),
        "cost_usd": MoneyField(),
        "unpriced_requests": serializers.IntegerField(help_text="requests that used tokens of a model with no price"),
    }
    return type(name, (serializers.Serializer,), fields)


TotalsSerializer = _totals("TotalsSerializer")
DayTotalsSerializer = _totals("DayTotalsSerializer", date=serializers.DateField())
ModelTotalsSerializer = _totals(
    "ModelTotalsSerializer", endpoint=serializers.CharField(), model=serializers.CharField()
)
EndpointTotalsSerializer = _totals("EndpointTotalsSerializer", endpoint=serializers.CharField())
UserTotalsSerializer = _totals("UserTotalsSerializer", user_id=serializers.IntegerField(allow_null=True),
                               username=serializers.CharField())  # fmt: skip


class SummarySerializer(serializers.Serializer):
    totals = TotalsSerializer()
    by_day = DayTotalsSerializer(many=True)
    by_model = ModelTotalsSerializer(many=True)
    by_endpoint = EndpointTotalsSerializer(many=True)
    by_user = UserTotalsSerializer(many=True, required=False)


class UsagePageSerializer(serializers.Serializer):
    """``GET /api/usage`` (documentation only: the view writes the same keys)."""

    results = UsageRecordSerializer(many=True)
    totals = TotalsSerializer()
    next = serializers.URLField(allow_null=True, help_text="The next page, or null.")
