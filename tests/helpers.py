"""Small helpers shared by tests: seed a config from yaml text, make API clients."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from endpoints.config import parse_text
from endpoints.config.seed import SeedReport, apply


def seed(text: str, env: dict[str, str | None] | None = None, **options: bool) -> SeedReport:
    return apply(parse_text(text, env=env or {}), **options)


def make_user(username: str = "alice", *, staff: bool = False):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username, password="pw-" + username, is_staff=staff)
    return user


def token_client(user, scheme: str = "Bearer") -> APIClient:  # type: ignore[no-untyped-def]
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token.key}")
    return client


def seed_fake_endpoint(url: str, *, name: str = "fakeai", models: tuple[str, ...] = ("gpt-4o",)) -> SeedReport:
    """One custom endpoint pointing at a fake upstream (the most common test configuration)."""
    listed = ", ".join(f"'{m}'" for m in models)
    return seed(
        f"version: 1.3.14\nendpoints:\n  custom:\n"
        f"    - {{name: {name}, apiKey: test-key, baseURL: '{url}', models: {{default: [{listed}]}}}}\n"
    )


def api_token(username: str = "alice") -> str:
    """A new user's API token."""
    token, _ = Token.objects.get_or_create(user=make_user(username))
    return token.key


def recorded(count: int = 1, timeout: float = 10.0, **filters: Any) -> Any:
    """The usage row matching ``filters`` once it is final (``count``: the rows, as a list, once
    that many are final).  A chat's row is committed just after its answer has gone out, so a
    test that has the answer waits for the row rather than expect it already there; the timeout
    only bounds a wait that never ends."""
    from usage.models import UsageRecord

    deadline = time.monotonic() + timeout
    while True:
        rows = list(UsageRecord.objects.filter(**filters).order_by("created_at", "id"))
        done = len(rows) >= count and all(row.status != "pending" for row in rows)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if count == 1:
        assert len(rows) == 1, [(row.request_id, row.status) for row in rows]
        return rows[0]
    return rows


def usage_settled(count: int = 0, timeout: float = 10.0) -> None:
    """Wait until at least ``count`` usage rows exist and none is pending (see :func:`recorded`)."""
    from usage.models import UsageRecord

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = UsageRecord.objects.all()
        if rows.count() >= count and not rows.filter(status="pending").exists():
            return
        time.sleep(0.02)
