"""Usage, seen by people: ``GET /api/usage`` and ``/api/usage/summary`` (CONTRACT §8), the
``/usage/`` page (a signed-in person's spend), ``/usage/admin/`` (everyone's, staff only) and its
CSV export.  Money is written as decimal strings in JSON and CSV.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.errors import ApiError
from core.openapi.errors import error_responses
from usage import reports
from usage.budgets.config import load_config
from usage.models import CREDITS_PER_USD, Balance, SpendingWindow, UsageRecord
from usage.money import money
from usage.serializers import (
    DEFAULT_PAGE_SIZE,
    SummarySerializer,
    TotalsSerializer,
    UsagePageSerializer,
    UsageQuerySerializer,
)
from usage.serializers import UsageRecordSerializer as RecordSerializer

# --- API -----------------------------------------------------------------------------------


def _query(request: Request) -> UsageQuerySerializer:
    query = UsageQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query


class UsageView(APIView):
    """The caller's records (admins: ``?user=<id|username|all>``), newest first, with totals."""

    @extend_schema(operation_id="usage_list", tags=["usage"], summary="Your usage records, newest first, with totals", parameters=[UsageQuerySerializer],
                   responses={200: UsagePageSerializer, **error_responses(400, 403, 404)})  # fmt: skip
    def get(self, request: Request) -> Response:
        query = _query(request)
        records = query.records(request.user)
        size = query.validated_data.get("page_size", DEFAULT_PAGE_SIZE)
        try:
            shown = records.select_related("user__end_user__service_owner")  # who, in the same query
            rows, cursor = reports.page(shown, query.validated_data.get("cursor") or None, size)
        except reports.BadCursor as exc:
            raise ApiError("invalid_request", str(exc), errors={"cursor": [str(exc)]}) from None
        url = request.build_absolute_uri()
        return Response({
            "results": RecordSerializer(rows, many=True).data,
            "totals": TotalsSerializer(reports.totals(records)).data,
            "next": replace_query_param(url, "cursor", cursor) if cursor else None,
        })  # fmt: skip


class UsageSummaryView(APIView):
    """Totals per day, model and endpoint (and per user, for an admin asking ``?user=all``)."""

    @extend_schema(operation_id="usage_summary", tags=["usage"], summary="Your usage totals per day, model and endpoint", parameters=[UsageQuerySerializer],
                   responses={200: SummarySerializer, **error_responses(400, 403, 404)})  # fmt: skip
    def get(self, request: Request) -> Response:
        query = _query(request)
        summary = reports.summary(query.records(request.user), by_user=query.everyone)
        return Response(SummarySerializer(summary).data)


# --- pages ---------------------------------------------------------------------------------

RANGES = (7, 30, 90)
CHART_WIDTH, CHART_HEIGHT = 720, 220
PLOT_LEFT, PLOT_TOP, PLOT_BOTTOM, PLOT_RIGHT = 64, 12, 28, 8


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    cost: str
    requests: int


def spend_chart(by_day: list[dict[str, Any]], first: date, last: date) -> dict[str, Any]:
    """A bar per day from ``first`` to ``last``: geometry for ``templates/usage/chart.html`` (SVG)."""
    rows = {row["date"]: row for row in by_day}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    top = max((rows[d]["cost_usd"] for d in days if d in rows), default=Decimal(0))
    plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    slot = plot_width / len(days)
    bars = []
    for index, day in enumerate(days):
        row = rows.get(day, {"cost_usd": Decimal(0), "requests": 0})
        height = float(row["cost_usd"] / top) * plot_height if top else 0.0
        bars.append(Bar(x=round(PLOT_LEFT + index * slot + slot * 0.1, 2), y=round(PLOT_TOP + plot_height - height, 2),
                        width=round(slot * 0.8, 2), height=round(height, 2), day=day, cost=money(row["cost_usd"]),
                        requests=row["requests"]))  # fmt: skip
    every = max(1, len(days) // 6)
    labels = [{"x": round(b.x + b.width / 2, 2), "text": b.day.strftime("%b %d")} for b in bars[::every]]
    ticks = [
        {"y": round(PLOT_TOP + plot_height * (1 - share), 2), "text": "$" + money(top * Decimal(str(share)))}
        for share in (0, 0.5, 1)
    ]
    # Nothing spent: no bars to scale, so no axis either (three "$0" ticks say nothing); the page says why.
    requests = sum(bar.requests for bar in bars)
    return {"bars": bars, "labels": labels, "ticks": ticks, "width": CHART_WIDTH, "height": CHART_HEIGHT,
            "empty": not top, "requests": requests, "days": len(days),
            "left": PLOT_LEFT, "baseline": PLOT_TOP + plot_height, "right": CHART_WIDTH - PLOT_RIGHT,
            "total": money(sum((rows[d]["cost_usd"] for d in days if d in rows), Decimal(0))), "first": first,
            "last": last}  # fmt: skip


def _range(request: HttpRequest) -> tuple[int, date, date, datetime]:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in RANGES else 30
    last = timezone.localdate()
    first = last - timedelta(days=days - 1)
    return days, first, last, timezone.make_aware(datetime.combine(first, time.min))


def _balance(user: Any) -> dict[str, Any] | None:
    config = load_config()
    limits = []
    today = timezone.localdate()
    for rule in config.rules:
        if rule.applies(user.pk, rule.endpoint):
            window = SpendingWindow.objects.filter(limit_id=rule.id, subject=rule.subject(user.pk),
                                                   period_start=rule.period_start(today)).first()  # fmt: skip
            spent = window.spent_usd if window else Decimal(0)
            limits.append({"rule": rule, "spent": money(spent), "amount": money(rule.amount_usd),
                           "resets": rule.resets_at(today)})  # fmt: skip
    balance = Balance.objects.filter(user=user).first() if config.balance_enabled else None
    if not (config.balance_enabled or limits):
        return None
    credits = balance.credits if balance else config.start_balance
    return {"enabled": config.balance_enabled, "credits": money(credits), "usd": money(credits / CREDITS_PER_USD),
            "limits": limits}  # fmt: skip


def _displayed(summary: dict[str, Any]) -> dict[str, Any]:
    """Each row's cost also as text (``cost``), as the API writes it."""
    for rows in [[summary["totals"]], *(value for key, value in summary.items() if key.startswith("by_"))]:
        for row in rows:
            row["cost"] = money(row["cost_usd"])
    return summary


def _end_users(owner: Any, since: datetime) -> list[dict[str, Any]] | None:
    """What the end users ``owner``'s service tokens acted for spent (None: they act for nobody)."""
    if not owner.end_users.exists():
        return None
    acted = UsageRecord.objects.filter(user__end_user__service_owner=owner, created_at__gte=since)
    rows = reports.per_user(acted)
    for row in rows:
        row["cost"] = money(row["cost_usd"])
    return rows


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    days, first, last, since = _range(request)
    me: Any = request.user  # signed in (login_required)
    mine = UsageRecord.objects.filter(user=me)
    summary = _displayed(reports.summary(mine.filter(created_at__gte=since)))
    recent = list(mine.order_by("-created_at", "-id")[:20])
    for record in recent:
        record.cost_display = money(record.cost_usd) if record.cost_usd is not None else None  # type: ignore[attr-defined]
    context = {
        "days": days, "ranges": RANGES, "summary": summary, "chart": spend_chart(summary["by_day"], first, last),
        "top_models": summary["by_model"][:5], "recent": recent, "balance": _balance(request.user),
        "end_users": _end_users(me, since),
    }  # fmt: skip
    return render(request, "usage/usage.html", context)


def _staff(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see everyone's usage.")


@login_required
def usage_admin_page(request: HttpRequest) -> HttpResponse:
    _staff(request)
    days, first, last, since = _range(request)
    summary = _displayed(reports.summary(UsageRecord.objects.filter(created_at__gte=since), by_user=True))
    context = {"days": days, "ranges": RANGES, "summary": summary,
               "chart": spend_chart(summary["by_day"], first, last)}  # fmt: skip
    return render(request, "usage/usage_admin.html", context)


CSV_GROUPS = ("user", "model", "endpoint", "day", "records")


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def usage_export(request: HttpRequest) -> StreamingHttpResponse:
    """``/usage/admin/export.csv?by=user|model|endpoint|day|records&days=30`` (staff only)."""
    _staff(request)
    by = request.GET.get("by", "user")
    if by not in CSV_GROUPS:
        by = "user"
    _, first, last, since = _range(request)
    records = UsageRecord.objects.filter(created_at__gte=since)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in reports.csv_rows(by, records)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="usage-by-{by}-{first}-{last}.csv"'
    return response
