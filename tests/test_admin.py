"""Django admin: actions, masked keys, edits that survive a re-seed."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth import get_user_model

from endpoints.models import Endpoint, EndpointModel, Source
from tests.fakes.server import Reply
from tests.helpers import seed_fake_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, settings, fake_openai):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    seed_fake_endpoint(fake_openai.base_url)
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def _action(client, action: str, name: str = "fakeai"):
    endpoint = Endpoint.objects.get(name=name)
    return client.post(
        "/admin/endpoints/endpoint/",
        {"action": action, "_selected_action": [endpoint.pk]},
        follow=True,
    )


def test_it_tests_a_connection_and_shows_the_latency(admin_client, fake_openai):
    response = _action(admin_client, "test_connection")
    text = response.content.decode()
    assert "fakeai: gpt-4o answered in" in text.lower()
    assert fake_openai.last.json["max_tokens"] == 1


def test_it_shows_the_normalized_error_of_a_failed_connection(admin_client, fake_openai):
    fake_openai.reply = Reply(status=401)
    text = _action(admin_client, "test_connection").content.decode()
    assert "fakeai: invalid_api_key" in text.lower()
    assert "test-key" not in text


def test_it_refreshes_models_from_upstream(admin_client, fake_openai):
    fake_openai.models = ["gpt-4o", "new-model-x"]
    Endpoint.objects.filter(name="fakeai").update(models_fetch=True)
    text = _action(admin_client, "refresh_models").content.decode()
    assert "1 new one(s) added" in text
    added = EndpointModel.objects.get(model_id="new-model-x")
    assert added.source == Source.FETCHED


def test_it_exports_the_configuration_as_yaml(admin_client):
    response = _action(admin_client, "export_yaml")
    assert response["Content-Disposition"] == 'attachment; filename="librechat.yaml"'
    data = yaml.safe_load(response.content)
    assert data["endpoints"]["custom"][0]["name"] == "fakeai"


def test_it_encrypts_a_literal_key_typed_in_admin_and_shows_it_masked(admin_client):
    endpoint = Endpoint.objects.get(name="fakeai")
    url = f"/admin/endpoints/endpoint/{endpoint.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update(
        {
            "name": "fakeai",
            "kind": "custom",
            "wire": "openai",
            "enabled": "on",
            "api_key": "sk-canary-literal-1234",
            "headers": "{}",
            "add_params": "{}",
            "drop_params": "[]",
            "fallbacks": "[]",
            "extra": "{}",
            "capabilities": "null",
            "retrieval_models": "null",
            "supported_ids": "null",
            "excluded_ids": "null",
            "rate_limit": "null",
            "groups-TOTAL_FORMS": "0",
            "groups-INITIAL_FORMS": "0",
            "models-TOTAL_FORMS": "0",
            "models-INITIAL_FORMS": "0",
        }
    )
    data = {key: value for key, value in data.items() if not isinstance(value, bool) or value}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint.refresh_from_db()
    assert endpoint.api_key == "" and endpoint.api_key_secret and endpoint.api_key_hint == "…1234"
    assert endpoint.admin_modified is True
    assert "sk-canary-literal-1234" not in str(Endpoint.objects.filter(pk=endpoint.pk).values().get())
    page = admin_client.get(url).content.decode()
    assert "sk-canary-literal-1234" not in page and "…1234" in page
    listing = admin_client.get("/admin/endpoints/endpoint/").content.decode()
    assert "…1234 (encrypted)" in listing
