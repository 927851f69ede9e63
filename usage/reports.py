"""Reading usage back: filters, keyset pages, totals and summaries, aggregated in the
database in ``Decimal`` (one query each)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from usage.models import Status, UsageRecord
from usage.money import money

ZERO = Decimal(0)


#: The endpoint and model that answered, or the ones asked for when none did.
SERVED_ENDPOINT = Coalesce(NullIf(F("answered_endpoint"), Value("")), F("endpoint"))
SERVED_MODEL = Coalesce(NullIf(F("answered_model"), Value("")), F("model"))


def filter_records(records: QuerySet[UsageRecord], *, start: Any = None, end: Any = None, endpoint: str = "",
                   model: str = "", status: str = "") -> QuerySet[UsageRecord]:  # fmt: skip
    """Records from ``start`` (inclusive) to ``end`` (exclusive), on an endpoint or model asked for or served."""
    if start is not None:
        records = records.filter(created_at__gte=start)
    if end is not None:
        records = records.filter(created_at__lt=end)
    if endpoint:
        records = records.filter(Q(endpoint=endpoint) | Q(answered_endpoint=endpoint))
    if model:
        records = records.filter(Q(model=model) | Q(answered_model=model))
    if status:
        records = records.filter(status=status)
    return records


class BadCursor(ValueError):
    pass


def encode_cursor(record: UsageRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page(records: QuerySet[UsageRecord], cursor: str | None, size: int) -> tuple[list[UsageRecord], str | None]:
    """One page, newest first, after ``cursor``; and the cursor of the next page (None on the last).

    Keyset pagination on (created_at, id): one query, stable while new records arrive.
    """
    records = records.order_by("-created_at", "-id")
    if cursor:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            when, pk = json.loads(raw)
            moment = datetime.fromisoformat(when)
            pk = int(pk)
        except (ValueError, TypeError) as exc:
            raise BadCursor("The cursor is not one this API gave out.") from exc
        records = records.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    rows = list(records[: size + 1])
    return rows[:size], encode_cursor(rows[size - 1]) if len(rows) > size else None


#: Finished records that used tokens but have no cost: their model has no known price.
UNPRICED = Q(cost_usd__isnull=True) & ~Q(status=Status.PENDING) & (Q(prompt_tokens__gt=0) | Q(completion_tokens__gt=0))

#: Aggregate aliases (they may not collide with the model's fields) -> the API's names.
NAMES = {
    "n_requests": "requests",
    "n_prompt": "prompt_tokens",
    "n_completion": "completion_tokens",
    "usd": "cost_usd",
    "n_unpriced": "unpriced_requests",
}


def _sums() -> dict[str, Any]:
    return {
        "n_requests": Count("id"),
        "n_prompt": Coalesce(Sum("prompt_tokens"), 0),
        "n_completion": Coalesce(Sum("completion_tokens"), 0),
        "usd": Coalesce(Sum("cost_usd"), Value(ZERO)),
        "n_unpriced": Count("id", filter=UNPRICED),
    }


def _clean(row: Any) -> dict[str, Any]:
    row = {NAMES.get(key, key): value for key, value in row.items()}
    row["cost_usd"] = Decimal(row["cost_usd"] or 0)
    return row


def totals(records: QuerySet[UsageRecord]) -> dict[str, Any]:
    """``{requests, prompt_tokens, completion_tokens, cost_usd, unpriced_requests}`` in one query."""
    return _clean(records.order_by().aggregate(**_sums()))


def _grouped(records: Any, *fields: str, order: tuple[str, ...]) -> list[dict[str, Any]]:
    return [_clean(row) for row in records.values(*fields).annotate(**_sums()).order_by(*order)]


def summary(records: QuerySet[UsageRecord], *, by_user: bool = False) -> dict[str, Any]:
    """Totals overall, per day (oldest first), per served model, endpoint and user (costliest first).

    One query each; days are the current time zone's.
    """
    plain: Any = records.order_by()
    days = plain.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
    served = plain.annotate(served_endpoint=SERVED_ENDPOINT, served_model=SERVED_MODEL)
    costliest = ("-usd", "-n_requests")
    result: dict[str, Any] = {
        "totals": totals(records),
        "by_day": [{"date": row.pop("day"), **row} for row in _grouped(days, "day", order=("day",))],
        "by_model": [
            {"endpoint": row.pop("served_endpoint"), "model": row.pop("served_model"), **row}
            for row in _grouped(
                served, "served_endpoint", "served_model", order=(*costliest, "served_endpoint", "served_model")
            )
        ],
        "by_endpoint": [
            {"endpoint": row.pop("served_endpoint"), **row}
            for row in _grouped(served, "served_endpoint", order=(*costliest, "served_endpoint"))
        ],
    }
    if by_user:
        result["by_user"] = per_user(records)
    return result


def per_user(records: QuerySet[UsageRecord]) -> list[dict[str, Any]]:
    """Totals per user, costliest first (one query)."""
    plain: Any = records.order_by()
    return [
        {"user_id": row.pop("user_id"), "username": row.pop("user__username") or "", **row}
        for row in _grouped(plain, "user_id", "user__username", order=("-usd", "-n_requests", "user_id"))
    ]


# --- CSV ----------------------------------------------------------------------------------

TOTAL_COLUMNS = ["requests", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced_requests"]


def _cell(value: Any) -> Any:
    """No spreadsheet formulas from user-controlled text (CSV injection)."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(by: str, records: QuerySet[UsageRecord]) -> Iterator[list[Any]]:
    if by == "records":
        fields = ["created_at", "request_id", "user_id", "endpoint", "model", "answered_endpoint", "answered_model",
                  "prompt_tokens", "completion_tokens", "cached_tokens", "estimated", "cost_usd", "status",
                  "error_type", "latency_ms", "ttft_ms"]  # fmt: skip
        yield fields
        for row in records.order_by("created_at", "id").values_list(*fields).iterator(chunk_size=2000):
            yield [_cell(value) for value in row]
        return
    key = {"user": ["user_id", "username"], "model": ["endpoint", "model"], "endpoint": ["endpoint"],
           "day": ["date"]}[by]  # fmt: skip
    yield key + TOTAL_COLUMNS
    grouped = summary(records, by_user=by == "user")
    for row in grouped[f"by_{by}"]:
        yield [_cell(row[name]) for name in key + TOTAL_COLUMNS]
