"""Usage in Django admin: records (read-only, filterable, with totals, CSV), models without a price,
balances and their settings, spending limits, and what requests in flight hold."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from usage import reports
from usage.budgets.holds import settle_sync
from usage.models import (
    Balance,
    BalanceSettings,
    Reservation,
    SpendingLimit,
    SpendingWindow,
    UnpricedModel,
    UsageRecord,
)
from usage.money import money
from usage.pricing import price_for


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PricedFilter(admin.SimpleListFilter):
    title = "cost"
    parameter_name = "cost"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("known", "known"), ("unknown", "unknown (no price)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageRecord]) -> QuerySet[UsageRecord]:
        if self.value() == "known":
            return queryset.filter(cost_usd__isnull=False)
        if self.value() == "unknown":
            return queryset.filter(reports.UNPRICED)
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    change_list_template = "usage/admin_usagerecord_change_list.html"
    list_display = ("created_at", "user", "endpoint", "model", "answered_model", "status", "error_type",
                    "prompt_tokens", "completion_tokens", "estimated", "cost", "latency_ms")  # fmt: skip
    list_filter = ("status", PricedFilter, "estimated", "via", "endpoint", "answered_endpoint", "error_type")
    list_select_related = ("user",)
    search_fields = ("request_id", "conversation_id", "user__username", "model", "answered_model")
    date_hierarchy = "created_at"
    actions = ("export_csv",)

    @admin.display(description="cost (USD)", ordering="cost_usd")
    def cost(self, record: UsageRecord) -> str:
        return money(record.cost_usd) if record.cost_usd is not None else "unknown"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            totals = reports.totals(response.context_data["cl"].queryset)  # the filtered records
            response.context_data["usage_totals"] = {**totals, "cost": money(totals["cost_usd"])}
        return response

    @admin.action(description="Export selected records as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[UsageRecord]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="usage-records.csv"'
        writer = csv.writer(response)
        writer.writerows(reports.csv_rows("records", queryset))
        return response


@admin.register(UnpricedModel)
class UnpricedModelAdmin(ReadOnlyAdmin):
    """Configured models whose cost would be unknown: set prices on them (or wait for the catalog)."""

    change_list_template = "usage/admin_unpriced_change_list.html"
    list_display = ("model_id", "endpoint", "endpoint_kind", "enabled", "unpriced_requests", "set_prices")
    list_filter = ("endpoint", "enabled")
    search_fields = ("model_id", "endpoint__name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[UnpricedModel]:
        rows = super().get_queryset(request).select_related("endpoint")
        unpriced = [
            row.pk
            for row in rows
            if not price_for(
                row.endpoint.kind, row.model_id, row.prompt_price, row.completion_price, row.cached_price
            ).known
        ]
        seen = (
            UsageRecord.objects.filter(
                reports.UNPRICED, answered_endpoint=OuterRef("endpoint__name"), answered_model=OuterRef("model_id")
            )
            .order_by()
            .values("answered_model")
            .annotate(n=Count("id"))
            .values("n")
        )
        return rows.filter(pk__in=unpriced).annotate(seen=Coalesce(Subquery(seen, output_field=IntegerField()), 0))

    @admin.display(description="kind", ordering="endpoint__kind")
    def endpoint_kind(self, row: UnpricedModel) -> str:
        return row.endpoint.kind

    @admin.display(description="requests without a cost", ordering="seen")
    def unpriced_requests(self, row: UnpricedModel) -> int:
        return getattr(row, "seen", 0)

    @admin.display(description="")
    def set_prices(self, row: UnpricedModel) -> str:
        url = reverse("admin:endpoints_endpointmodel_change", args=[row.pk])
        return format_html('<a href="{}">Set prices</a>', url)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Also list models that answered without a price but are not configured (fetched model lists)."""
        answered = (
            UsageRecord.objects.filter(reports.UNPRICED)
            .exclude(answered_model="")
            .values("answered_endpoint", "answered_model")
            .annotate(requests=Count("id"))
            .order_by("-requests")[:50]
        )
        configured = set(UnpricedModel.objects.values_list("endpoint__name", "model_id"))
        others = [row for row in answered if (row["answered_endpoint"], row["answered_model"]) not in configured]
        return super().changelist_view(request, {**(extra_context or {}), "unconfigured": others})


@admin.register(BalanceSettings)
class BalanceSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "start_balance", "auto_refill_enabled", "refill_amount", "refill_interval_value",
                    "refill_interval_unit", "source", "admin_modified")  # fmt: skip
    readonly_fields = ("source", "admin_modified", "updated_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not BalanceSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BalanceSettings, form: Any, change: bool) -> None:
        obj.source, obj.admin_modified = "admin", True  # a later seed keeps it unless --overwrite
        super().save_model(request, obj, form, change)


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):
    list_display = ("user", "credits", "usd", "reserved", "last_refill", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = ("reserved", "updated_at")
    autocomplete_fields = ("user",)

    @admin.display(description="USD")
    def usd(self, balance: Balance) -> str:
        return money(balance.usd)

    def save_model(self, request: HttpRequest, obj: Balance, form: Any, change: bool) -> None:
        if change:  # never write `reserved`: requests in flight change it meanwhile
            obj.save(update_fields=["credits", "last_refill", "updated_at"])
        else:
            super().save_model(request, obj, form, change)


class WindowInline(admin.TabularInline):
    model = SpendingWindow
    extra = 0
    fields = ("subject", "period_start", "spent_usd", "reserved_usd")
    readonly_fields = fields
    ordering = ("-period_start",)
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SpendingLimit)
class SpendingLimitAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "endpoint", "period", "amount_usd", "shared", "enabled")
    list_filter = ("period", "enabled", "shared", "endpoint")
    search_fields = ("user__username", "endpoint")
    autocomplete_fields = ("user",)
    inlines = (WindowInline,)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Holds of requests in flight; one older than a few minutes belongs to a request that died."""

    list_display = ("request_id", "user", "estimate_usd", "credits", "created_at")
    list_select_related = ("user",)
    search_fields = ("request_id", "user__username")
    actions = ("release",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)  # to run the release action

    @admin.action(description="Release the selected holds (charge nothing)")
    def release(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        released = sum(settle_sync(request_id, None) for request_id in queryset.values_list("request_id", flat=True))
        self.message_user(request, f"Released {released} hold(s).", messages.SUCCESS)
