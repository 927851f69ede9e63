"""Health at a glance: ``GET /api/health/models`` (staff), the proactive checks and their lease,
the yaml keys (path-named errors, export) and admin's check of them; the page in real Chromium
(states, "test now")."""

from __future__ import annotations

import asyncio

import pytest
from django.core.cache import cache

from endpoints.catalog.snapshot import get_snapshot
from endpoints.config import ConfigError, parse_text
from endpoints.config.export import export
from endpoints.config.routing import problems_of
from endpoints.models import EndpointModel
from endpoints.providers.http import aclose_clients
from endpoints.routing import checks, state
from tests.browser import requires_chromium, screenshot_on_failure
from tests.helpers import make_user, seed, token_client

CONFIG = """
version: 1.3.14
endpoints:
  custom:
    - name: pool
      apiKey: test-key
      baseURL: '{url}'
      routing: {{cooldownSeconds: 120}}
      models:
        default:
          - name: gpt-4o
            routing: {{healthCheck: {{intervalSeconds: 30}}}}
            deployments:
              - {{name: a, weight: 2}}
              - {{name: b, apiKey: '${{POOL_KEY_B}}'}}
          - gpt-4o-mini
"""


@pytest.fixture
def configured(settings, fake_openai):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    settings.ENVIRON = {"POOL_KEY_B": "wrong-key"}
    fake_openai.models = None
    seed(CONFIG.format(url=fake_openai.base_url))
    return fake_openai


def deployments(body: dict) -> dict[str, dict]:
    return {d["key"]: d for e in body["endpoints"] for m in e["models"] for d in m["deployments"]}


@pytest.mark.django_db
def test_the_api_lists_every_deployment_with_its_state_for_staff_only(configured):
    assert token_client(make_user("alice")).get("/api/health/models").status_code == 403
    state.cool("pool/gpt-4o/a", 60, "upstream_error", "The provider failed to answer. (HTTP 500)")
    state.record_failure("pool/gpt-4o-mini/default", get_snapshot().get("pool").policy, "upstream_timeout", "late")
    response = token_client(make_user("root", staff=True)).get("/api/health/models")
    assert response.status_code == 200
    found = deployments(response.json())
    assert set(found) == {"pool/gpt-4o/a", "pool/gpt-4o/b", "pool/gpt-4o-mini/default"}
    assert found["pool/gpt-4o/a"]["state"] == "cooling_down" and found["pool/gpt-4o/a"]["reason"] == "upstream_error"
    assert found["pool/gpt-4o/b"]["state"] == "healthy" and found["pool/gpt-4o/b"]["weight"] == 1
    mini = found["pool/gpt-4o-mini/default"]
    assert mini["last_error"]["type"] == "upstream_timeout" and mini["windows"]["5m"]["error_rate"] == 1.0
    assert len(mini["chart"]) == 12 and mini["chart"][-1] == {"requests": 1, "errors": 1}


@pytest.mark.django_db
def test_a_proactive_check_feeds_the_cooldowns_and_one_worker_checks_at_a_time(configured):
    snapshot = get_snapshot()

    async def two_workers() -> list[int]:
        try:
            return list(await asyncio.gather(checks.run_due(snapshot), checks.run_due(snapshot)))
        finally:
            await aclose_clients()  # this loop's upstream pool ends with it

    done = asyncio.run(two_workers())
    assert sorted(done) == [0, 2]  # a and b of gpt-4o (gpt-4o-mini asks for no checks), by one worker
    assert len([r for r in configured.requests if r.path.endswith("/chat/completions")]) == 2  # one tiny chat each
    healths = dict(zip(["a", "b"], state.read(["pool/gpt-4o/a", "pool/gpt-4o/b"]), strict=True))
    assert healths["a"].down is None
    assert healths["b"].state(0) == "failing_auth" and healths["b"].down is not None  # a has a sibling: cooled
    cache.delete(checks.LEASE_KEY)
    assert asyncio.run(checks.run_due(snapshot)) == 0  # checked 30 s ago: not due yet


@pytest.mark.django_db
def test_the_yaml_keys_are_exported_back_and_seed_the_same_rows(configured):
    text = export().to_yaml()
    assert "deployments:" in text and "healthCheck:" in text and "cooldownSeconds: 120" in text
    before = list(EndpointModel.objects.values_list("model_id", "deployments", "routing").order_by("model_id"))
    seed(text)
    assert list(EndpointModel.objects.values_list("model_id", "deployments", "routing").order_by("model_id")) == before


def test_the_yaml_names_each_mistake_by_its_path():
    text = CONFIG.format(url="http://127.0.0.1:9/v1").replace("{name: b, apiKey: '${POOL_KEY_B}'}",
                                                              "{name: a, apiKey: 'sk-literal', weight: 0}")  # fmt: skip
    text = text.replace("intervalSeconds: 30", "intervalSeconds: 1").replace("cooldownSeconds: 120", "strategy: fast")
    with pytest.raises(ConfigError) as caught:
        parse_text(text, env={})
    paths = {p.path for p in caught.value.problems}
    base = "endpoints.custom[0].models.default[0]"
    assert paths == {f"{base}.deployments[1].name", f"{base}.deployments[1].apiKey", f"{base}.deployments[1].weight",
                     f"{base}.routing.healthCheck.intervalSeconds", "endpoints.custom[0].routing.strategy"}  # fmt: skip


def test_admin_json_is_checked_with_the_same_rules():
    assert [str(p) for p in problems_of([{"name": "x", "target": "nowhere"}], "deployments")] == [
        "deployments[0].target: expected 'endpoint/model', got 'nowhere'"
    ]
    assert problems_of({"strategy": "least-busy"}, "routing") == []


# --- the page in Chromium ------------------------------------------------------------------------


@pytest.fixture
def staff_app(configured, live_server) -> str:
    """Rows written before the browser starts (Playwright's loop in this thread refuses ORM calls)."""
    make_user("root", staff=True)
    state.cool("pool/gpt-4o/a", 90, "upstream_error", "The provider failed to answer. (HTTP 500)")
    return live_server.url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@requires_chromium
def test_the_health_page_shows_states_and_tests_a_deployment_now(staff_app, page):
    from playwright.sync_api import expect

    with screenshot_on_failure(page, "test_the_health_page_shows_states_and_tests_a_deployment_now"):
        page.goto(f"{staff_app}/health/models/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill("pw-root")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Health of the models")).to_be_visible()
        row_a = page.locator("tr.deployment[data-key='pool/gpt-4o/a']")
        expect(row_a.locator(".state")).to_have_text("cooling down")
        expect(row_a).to_contain_text("until")
        expect(page.locator("tr.deployment[data-key='pool/gpt-4o/b'] .state")).to_have_text("healthy")
        expect(row_a.locator("svg.spark rect.requests")).to_have_count(12)

        # "Test now": a answers, so its cooldown ends; b's key is refused, so it is marked.
        page.get_by_role("button", name="Test pool/gpt-4o a now").click()
        expect(page.get_by_role("status")).to_contain_text("pool/gpt-4o · a: gpt-4o answered")
        expect(page.locator("tr.deployment[data-key='pool/gpt-4o/a'] .state")).to_have_text("healthy")
        page.get_by_role("button", name="Test pool/gpt-4o b now").click()
        expect(page.get_by_role("alert")).to_contain_text("invalid_api_key")
        row_b = page.locator("tr.deployment[data-key='pool/gpt-4o/b']")
        expect(row_b.locator(".state")).to_have_text("failing auth")
        expect(row_b.locator(".last-error")).to_have_text("invalid_api_key")
        expect(row_b.locator(".last-check")).to_contain_text("failed")
