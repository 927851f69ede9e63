"""With the whole shared cache down, chat fails closed with the contract's 503."""

from __future__ import annotations

import httpx2
import pytest

from tests.helpers import api_token, seed_fake_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_503_when_the_shared_cache_is_down(settings, fake_openai, asgi_server):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    seed_fake_endpoint(fake_openai.base_url)
    token = api_token()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    body = {"endpoint": "fakeai", "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    response = httpx2.post(
        f"{asgi_server.url}/api/chat", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    assert response.status_code == 503
    assert response.json()["type"] == "rate_limit_unavailable"
    assert fake_openai.requests == []
