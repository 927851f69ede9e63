"""``/api/usage`` and ``/api/usage/summary`` (included at ``api/``), and the pages under ``/usage/`` (``page_patterns``)."""

from __future__ import annotations

from django.urls import path

from usage import views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="api-usage"),
    path("usage/summary", views.UsageSummaryView.as_view(), name="api-usage-summary"),
]

page_patterns = [
    path("", views.usage_page, name="usage"),
    path("admin/", views.usage_admin_page, name="usage-admin"),
    path("admin/export.csv", views.usage_export, name="usage-export"),
]
