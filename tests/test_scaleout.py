"""Two server processes behind the same PostgreSQL and Redis agree (issue 9, item 4)."""

from __future__ import annotations

import time

import httpx2
import pytest

from endpoints.models import Endpoint, EndpointModel
from tests.helpers import api_token, seed_fake_endpoint, usage_settled
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(settings, fake_openai):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    seed_fake_endpoint(fake_openai.base_url)
    return api_token()


def _models(url: str, token: str) -> list[str]:
    response = httpx2.get(f"{url}/api/models", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json().get("fakeai", [])


def test_it_shows_an_admin_edit_on_every_process_within_a_second(token, server_processes):
    assert all(_models(s.url, token) == ["gpt-4o"] for s in server_processes)
    EndpointModel.objects.create(endpoint=Endpoint.objects.get(name="fakeai"), model_id="gpt-4o-mini", position=1)
    deadline = time.monotonic() + 1.0
    seen = [False, False]
    while time.monotonic() < deadline and not all(seen):
        seen = [_models(s.url, token) == ["gpt-4o", "gpt-4o-mini"] for s in server_processes]
    assert all(seen), "an edit must reach every worker within a second"


def test_it_records_usage_from_every_process_in_one_place(token, server_processes, settings):
    body = {"endpoint": "fakeai", "model": "gpt-4o", "stream": False, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {token}"}
    for server in server_processes:
        for _ in range(5):
            response = httpx2.post(f"{server.url}/api/chat", json=body, headers=headers, timeout=20)
            assert response.status_code == 200, response.text
    usage_settled(10)  # each row is committed just after its answer went out
    records = UsageRecord.objects.filter(status="ok")
    assert records.count() == 10
    assert sum(r.prompt_tokens for r in records) == 120
    totals = [httpx2.get(f"{s.url}/api/usage", headers=headers, timeout=10).json()["totals"] for s in server_processes]
    assert totals[0] == totals[1]
    assert totals[0]["requests"] == 10
