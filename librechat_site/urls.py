from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from endpoints.api.health import health_page
from endpoints.api.home import home
from endpoints.api.playground import playground
from endpoints.auth import pages as auth_pages
from endpoints.auth.login import ThrottledLoginView
from endpoints.keys import pages
from librechat_site import health
from usage.urls import page_patterns as usage_pages

urlpatterns = [
    path("", home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    # The admin signs in through the one throttled sign-in page.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("usage.urls")),
    path("api/", include("endpoints.api.urls")),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("keys/", pages.keys_page, name="keys"),
    path("tokens/", auth_pages.tokens_page, name="tokens"),
    path("setup/<str:token>/", auth_pages.setup_page, name="setup"),
    path("usage/", include(usage_pages)),
    path("playground/", playground, name="playground"),
    path("health/models/", health_page, name="health-models"),
]

#: Unknown URLs and crashes under /api/ and /v1/ answer the contract's JSON error, pages answer HTML.
handler404 = "librechat_site.errors.not_found"
handler500 = "librechat_site.errors.server_error"
