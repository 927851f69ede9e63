"""Prices: genai-prices by default, admin overrides win, unknown stays unknown, bad figures rejected."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from genai_prices import Usage, calc_price

from endpoints.catalog.snapshot import get_snapshot
from endpoints.config import ConfigError
from endpoints.models import EndpointModel
from tests.helpers import seed
from usage.pricing import INVALID, cost, price_for, validate_price

#: (endpoint kind, model id, genai-prices provider)
WELL_KNOWN = [
    ("openAI", "gpt-4o", "openai"),
    ("openAI", "gpt-4o-mini", "openai"),
    ("openAI", "gpt-4.1", "openai"),
    ("azureOpenAI", "gpt-4o", "azure"),
    ("anthropic", "claude-sonnet-4-5", "anthropic"),
    ("anthropic", "claude-3-5-haiku-20241022", "anthropic"),
    ("google", "gemini-2.5-flash", "google"),
    ("google", "gemini-2.5-pro", "google"),
]
#: (prompt tokens, completion tokens, cached prompt tokens): small, cached, and past the 200k tiers.
TOKENS = [(1_234, 567, 0), (10_000, 2_000, 4_000), (250_000, 1_000, 50_000)]


@pytest.mark.parametrize(("kind", "model", "provider"), WELL_KNOWN)
@pytest.mark.parametrize(("prompt", "completion", "cached"), TOKENS)
def test_it_prices_well_known_models_like_genai_prices(kind, model, provider, prompt, completion, cached):
    ours = cost(price_for(kind, model, None, None, None), prompt, completion, cached)
    theirs = calc_price(
        Usage(input_tokens=prompt, output_tokens=completion, cache_read_tokens=cached), model, provider_id=provider
    ).total_price
    assert ours == theirs
    assert isinstance(ours, Decimal) and ours > 0


def test_it_lets_an_override_win_over_the_catalog():
    catalog = cost(price_for("openAI", "gpt-4o", None, None, None), 1_000_000, 1_000_000)
    override = price_for("openAI", "gpt-4o", Decimal("1"), Decimal("2"), None)
    assert override.source == "override"
    assert cost(override, 1_000_000, 1_000_000) == Decimal(3) != catalog
    # Cached input is billed at the prompt rate when the override has no cached rate.
    assert cost(override, 1_000_000, 0, cached_tokens=500_000) == Decimal(1)
    assert cost(price_for("openAI", "gpt-4o", Decimal("1"), Decimal("2"), Decimal("0.1")), 1_000_000, 0, 500_000) == (
        Decimal("0.55")
    )
    # Half an override is no override: both prompt and completion are needed.
    assert price_for("openAI", "gpt-4o", Decimal("1"), None, None).source == "genai-prices"


def test_it_keeps_the_cost_of_an_unknown_model_unknown():
    price = price_for("custom", "my-own-finetune", None, None, None)
    assert price.source == "unknown" and not price.known
    assert cost(price, 100, 100) is None  # never a silent 0


@pytest.mark.django_db
def test_it_applies_overrides_from_yaml_and_then_from_admin():
    seed("""
version: 1.3.14
endpoints:
  custom:
    - name: local
      apiKey: k
      baseURL: http://127.0.0.1:9/v1
      models:
        default: [{name: gpt-4o, prices: {prompt: 4, completion: 12, cached: 0.5}}, gpt-4o-mini]
""")

    def current() -> Decimal | None:
        endpoint = get_snapshot().get("local")
        assert endpoint is not None
        model = endpoint.model("gpt-4o")
        assert model is not None
        price = price_for(endpoint.kind, "gpt-4o", model.prompt_price, model.completion_price, model.cached_price)
        return cost(price, 1_000_000, 1_000_000, cached_tokens=200_000)

    assert current() == Decimal("3.2") + Decimal("0.1") + Decimal(12)
    from django.contrib.auth import get_user_model

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", password="pw"))
    row = EndpointModel.objects.get(model_id="gpt-4o")
    form = _model_form(row, prompt_price="1.5", completion_price="3")
    response = admin.post(f"/admin/endpoints/endpointmodel/{row.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert current() == Decimal("1.5") + Decimal(3)  # no cached rate any more: cached input at the prompt rate
    response = admin.post(f"/admin/endpoints/endpointmodel/{row.pk}/change/", _model_form(row))
    assert response.status_code == 302
    catalog = calc_price(Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=200_000), "gpt-4o",
                         provider_id="openai").total_price  # fmt: skip
    assert current() == catalog  # overrides cleared: the catalog again


def _model_form(row: EndpointModel, **changes: str) -> dict[str, str]:
    data = {
        "endpoint": str(row.endpoint_id), "model_id": row.model_id, "label": row.label, "enabled": "on",
        "position": str(row.position), "context_window": "", "max_output_tokens": "", "tools": "on",
        "streaming": "on", "fallbacks": "[]", "rate_limit": "null", "group": "", "deployment_name": "",
        "api_version": "", "prompt_price": "", "completion_price": "", "cached_price": "",
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.parametrize("bad", ["-1", "NaN", "Infinity", "-Infinity", "1e9", "abc"])
def test_it_rejects_negative_nan_and_infinite_prices_in_the_validator(bad):
    with pytest.raises(ValidationError):
        validate_price(Decimal(bad) if bad != "abc" else bad)
    validate_price(Decimal("0"))
    validate_price(Decimal("2.5"))


@pytest.mark.parametrize("bad", [Decimal("-1"), Decimal("NaN"), Decimal("Infinity")])
def test_it_prices_nothing_with_a_bad_stored_override(bad):
    assert price_for("openAI", "gpt-4o", bad, Decimal("1"), None) is INVALID
    assert price_for("openAI", "gpt-4o", Decimal("1"), Decimal("1"), bad) is INVALID
    assert cost(INVALID, 10, 10) is None  # never a negative (or NaN) cost


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["-1", ".nan", ".inf", "-.inf"])
def test_it_rejects_bad_prices_in_the_yaml(bad):
    with pytest.raises(ConfigError) as raised:
        seed(f"""
version: 1.3.14
endpoints:
  custom:
    - name: local
      apiKey: k
      baseURL: http://127.0.0.1:9/v1
      models:
        default: [{{name: m, prices: {{prompt: {bad}, completion: 1}}}}]
""")
    assert "endpoints.custom[0].models.default[0].prices.prompt" in str(raised.value)
    assert not EndpointModel.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["-1", "NaN", "Infinity"])
def test_it_rejects_bad_prices_in_the_admin_form(bad):
    from django.contrib.auth import get_user_model

    seed("""
version: 1.3.14
endpoints:
  custom:
    - name: local
      apiKey: k
      baseURL: http://127.0.0.1:9/v1
      models:
        default: [m]
""")
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", password="pw"))
    row = EndpointModel.objects.get(model_id="m")
    response = admin.post(f"/admin/endpoints/endpointmodel/{row.pk}/change/",
                          _model_form(row, prompt_price=bad, completion_price="1"))  # fmt: skip
    assert response.status_code == 200  # the form again, with an error
    assert "errorlist" in response.content.decode()
    row.refresh_from_db()
    assert row.prompt_price is None
