from __future__ import annotations

import pytest


def test_it_answers_liveness_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_is_ready_when_database_and_cache_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_it_is_not_ready_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = client.get("/readyz")  # Django rebuilds its cache handlers when CACHES changes
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["cache"].startswith("unavailable")


def test_it_exposes_prometheus_metrics(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "# HELP chat_open_streams" in text
    assert "# HELP chat_requests" in text
