from __future__ import annotations

from django.urls import path

from endpoints.api import views
from endpoints.api.assistants import AssistantsView
from endpoints.api.health import HealthModelsView
from endpoints.api.tokens import TokenDetailView, TokensView
from endpoints.keys.views import KeyDetailView, KeysView

urlpatterns = [
    path("endpoints", views.EndpointsView.as_view(), name="api-endpoints"),
    path("endpoints/<str:name>", views.EndpointDetailView.as_view(), name="api-endpoint"),
    path("models", views.ModelsView.as_view(), name="api-models"),
    path("models/details", views.ModelDetailsView.as_view(), name="api-models-details"),
    path("assistants", AssistantsView.as_view(), name="api-assistants"),
    path("health/models", HealthModelsView.as_view(), name="api-health-models"),
    path("keys", KeysView.as_view(), name="api-keys"),
    path("keys/<str:name>", KeyDetailView.as_view(), name="api-key"),
    path("tokens", TokensView.as_view(), name="api-tokens"),
    path("tokens/<int:pk>", TokenDetailView.as_view(), name="api-token"),
]
