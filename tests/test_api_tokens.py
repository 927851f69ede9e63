"""Named personal API tokens: /api/tokens, how they authenticate (REST, /api/chat, /v1 with the
OpenAI SDK), expiry, revocation and "last used"."""

from __future__ import annotations

import time
from datetime import timedelta

import openai
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core import memo
from endpoints.auth import lastused, tokens
from endpoints.models import ApiToken
from tests.helpers import make_user, seed_fake_endpoint, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_last_used():
    lastused.reset()
    yield
    lastused.reset()


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def new_token(client: APIClient, name: str = "laptop", **extra) -> dict:
    response = client.post("/api/tokens", {"name": name, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_creates_a_named_token_shown_once_and_stores_only_its_hash():
    alice = make_user("alice")
    created = new_token(token_client(alice), "laptop")
    assert created["key"].startswith("lcp_") and len(created["key"]) == 44
    assert created["prefix"] == created["key"][:10]
    assert created["state"] == "active" and created["user"] == "alice" and created["last_used_at"] is None
    row = ApiToken.objects.get(pk=created["id"])
    assert row.key_hash == tokens.key_hash(created["key"]) and created["key"] not in str(row.__dict__)
    listed = token_client(alice).get("/api/tokens").json()["results"]
    assert [t["name"] for t in listed] == ["laptop"]
    assert "key" not in listed[0]


def test_it_authenticates_rest_calls_with_a_personal_token_and_keeps_drf_tokens_working():
    alice = make_user("alice")
    key = new_token(token_client(alice))["key"]
    assert bearer(key).get("/api/models").status_code == 200
    assert token_client(alice, scheme="Token").get("/api/models").status_code == 200  # drf_create_token's kind
    refused = bearer(key[:-1] + ("x" if key[-1] != "x" else "y")).get("/api/models")
    assert refused.status_code == 401 and refused.json()["type"] == "not_authenticated"


def test_it_stops_a_revoked_token_at_once_here_and_evicts_it_from_the_shared_cache():
    alice = make_user("alice")
    created = new_token(token_client(alice))
    assert bearer(created["key"]).get("/api/models").status_code == 200
    assert cache.get(tokens.cache_key(created["key"]))  # resolved through the shared cache
    assert bearer(created["key"]).delete(f"/api/tokens/{created['id']}").status_code == 204
    assert cache.get(tokens.cache_key(created["key"])) is None
    assert bearer(created["key"]).get("/api/models").status_code == 401
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is not None
    assert token_client(alice).get("/api/tokens").json()["results"] == []


def test_it_stops_a_revoked_token_on_another_worker_once_its_local_memo_lapses():
    alice = make_user("alice")
    created = new_token(token_client(alice))
    key = created["key"]
    assert tokens.caller_for_token(key) is not None  # this worker now trusts it for LOCAL_TTL
    # Another worker revokes it: the row changes and the shared entry goes; this memo does not hear of it …
    ApiToken.objects.filter(pk=created["id"]).update(revoked_at=timezone.now())
    cache.delete(tokens.cache_key(key))
    assert tokens.caller_for_token(key) is not None
    memo.forget(tokens.cache_key(key))  # … until its entry lapses, LOCAL_TTL seconds at most
    assert tokens.caller_for_token(key) is None
    assert tokens.LOCAL_TTL <= 5  # the delay the README documents


def test_it_refuses_a_token_once_it_has_expired_even_from_the_caches():
    alice = make_user("alice")
    created = new_token(token_client(alice), expires_at=(timezone.now() + timedelta(seconds=1.5)).isoformat())
    assert bearer(created["key"]).get("/api/models").status_code == 200  # cached and memoized now
    time.sleep(1.6)
    assert bearer(created["key"]).get("/api/models").status_code == 401
    assert token_client(alice).get("/api/tokens").json()["results"][0]["state"] == "expired"


def test_it_writes_last_used_at_most_once_a_minute_and_after_the_response():
    alice = make_user("alice")
    created = new_token(token_client(alice))
    client = bearer(created["key"])
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/models").status_code == 200
    assert sum("UPDATE" in q["sql"] and "apitoken" in q["sql"] for q in first.captured_queries) == 1
    used = ApiToken.objects.get(pk=created["id"]).last_used_at
    assert used is not None and timezone.now() - used < timedelta(seconds=5)
    with CaptureQueriesContext(connection) as later:
        for _ in range(5):
            assert client.get("/api/models").status_code == 200
    assert not any("apitoken" in q["sql"] for q in later.captured_queries)  # no query at all: cached, coalesced


def test_it_lets_staff_see_and_revoke_anyones_tokens_and_nobody_else():
    alice, bob, root = make_user("alice"), make_user("bob"), make_user("root", staff=True)
    mine = new_token(token_client(alice), "alice's")
    assert token_client(bob).delete(f"/api/tokens/{mine['id']}").json()["type"] == "not_found"
    assert token_client(bob).get("/api/tokens?user=all").status_code == 403
    everyone = token_client(root).get("/api/tokens?user=all").json()["results"]
    assert [(t["name"], t["user"]) for t in everyone] == [("alice's", "alice")]
    assert token_client(root).delete(f"/api/tokens/{mine['id']}").status_code == 204
    assert bearer(mine["key"]).get("/api/models").status_code == 401


def test_it_explains_what_is_wrong_with_a_token_request():
    client = token_client(make_user("alice"))
    for body, field in [({}, "name"), ({"name": "  "}, "name"), ({"name": "x", "expires_at": "soon"}, "expires_at"),
                        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at")]:  # fmt: skip
        response = client.post("/api/tokens", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["type"] == "invalid_request" and field in response.json()["errors"], response.json()
    broken = client.generic("POST", "/api/tokens", "{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["type"] == "invalid_request"


def test_it_stops_the_tokens_of_a_deactivated_user():
    alice = make_user("alice")
    key = new_token(token_client(alice))["key"]
    assert bearer(key).get("/api/models").status_code == 200
    alice.is_active = False
    alice.save()
    assert bearer(key).get("/api/models").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_it_serves_the_openai_sdk_with_a_personal_token_until_it_is_revoked(fake_openai, asgi_server):
    seed_fake_endpoint(fake_openai.base_url)
    alice = make_user("alice")
    created = new_token(token_client(alice), "notebook")
    client = openai.OpenAI(base_url=f"{asgi_server.url}/v1", api_key=created["key"], max_retries=0, timeout=20)
    assert "fakeai/gpt-4o" in [m.id for m in client.models.list()]
    reply = client.chat.completions.create(model="fakeai/gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content
    assert ApiToken.objects.get(pk=created["id"]).last_used_at is not None  # written by the consumer's task
    token_client(alice).delete(f"/api/tokens/{created['id']}")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_revoked_token_on_every_worker_within_the_documented_delay(settings, fake_openai, server_processes):
    """Two server processes on PostgreSQL and Redis (the second leg of scripts/test)."""
    import httpx2

    settings.LIBRECHAT_ENDPOINT_VARS = {}
    seed_fake_endpoint(fake_openai.base_url)
    created = new_token(token_client(make_user("alice")))
    auth = {"Authorization": f"Bearer {created['key']}"}
    first, second = server_processes
    for server in server_processes:
        assert httpx2.get(f"{server.url}/v1/models", headers=auth, timeout=10).status_code == 200
    assert httpx2.delete(f"{first.url}/api/tokens/{created['id']}", headers=auth, timeout=10).status_code == 204
    revoked = time.monotonic()
    assert httpx2.get(f"{first.url}/v1/models", headers=auth, timeout=10).status_code == 401  # at once here
    while httpx2.get(f"{second.url}/v1/models", headers=auth, timeout=10).status_code != 401:
        assert time.monotonic() - revoked < tokens.LOCAL_TTL + 1, "still accepted past the documented delay"
        time.sleep(0.2)
