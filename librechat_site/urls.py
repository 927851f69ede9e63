from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from endpoints.api.playground import playground
from endpoints.keys import pages
from librechat_site import health
from usage.urls import page_patterns as usage_pages

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("usage.urls")),
    path("api/", include("endpoints.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("keys/", pages.keys_page, name="keys"),
    path("usage/", include(usage_pages)),
    path("playground/", playground, name="playground"),
]
