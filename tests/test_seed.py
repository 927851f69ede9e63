"""``seed_endpoints`` and ``export_endpoints``: idempotent, all-or-nothing seeding that keeps
admin edits, and an export that seeds back to the same rows."""

from __future__ import annotations

import io
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from core import secrets
from endpoints.config import parse_text
from endpoints.config.seed import secret_context
from endpoints.models import AzureGroup, Endpoint, EndpointModel, Source

EXAMPLE_YAML = Path(django_settings.BASE_DIR).parent / "shared" / "reference" / "librechat.example.yaml"
NO_VARS: dict[str, str | None] = dict.fromkeys(django_settings.LIBRECHAT_ENDPOINT_VARS)
ENV = {**NO_VARS, "OPENAI_API_KEY": "sk-env-secret-value-1234", "OPENAI_MODELS": "gpt-4o, gpt-4o-mini"}

GROQ_LITERAL = "gsk_literal_key_0123456789abcdef"
AZURE_LITERAL = "azure-literal-key-fedcba9876543210"

#: Every kind of endpoint, literal keys, references, user_provided, extension keys and
#: the LibreChat keys we only carry (titleConvo …).
CONFIG = f"""\
version: 1.3.14
cache: true
endpoints:
  openAI:
    rateLimit: {{requests: 60, windowSeconds: 60}}
    titleConvo: true
    models:
      default:
        - name: 'gpt-4o'
          contextWindow: 100000
          prices: {{prompt: 2.5, completion: 10}}
          fallbacks: ['groq/llama3-70b-8192']
  anthropic:
    models: ['claude-3-5-sonnet-20241022']
  assistants:
    disableBuilder: true
    pollIntervalMs: 3000
    timeoutMs: 180000
    version: 2
    supportedIds: ['asst_1', 'asst_2']
    retrievalModels: ['gpt-4-turbo-preview']
    capabilities: ['code_interpreter', 'retrieval', 'actions', 'tools', 'image_vision']
  azureOpenAI:
    titleConvo: true
    groups:
      - group: 'westus'
        apiKey: '${{WESTUS_API_KEY}}'
        instanceName: 'librechat-westus'
        version: '2024-02-15-preview'
        deploymentName: 'gpt-4o-prod'
        baseURL: 'https://${{INSTANCE_NAME}}.openai.azure.com/openai/deployments/${{DEPLOYMENT_NAME}}'
        additionalHeaders: {{X-Custom: '${{CUSTOM_VALUE}}'}}
        assistants: true
        models:
          gpt-4o: true
          gpt-4o-mini:
            deploymentName: 'gpt-4o-mini-prod'
            version: '2024-05-01-preview'
      - group: 'mistral-serverless'
        apiKey: '{AZURE_LITERAL}'
        baseURL: 'https://mistral-large.eastus.models.ai.azure.com/v1/chat/completions'
        serverless: true
        models:
          mistral-large: true
  custom:
    - name: 'groq'
      apiKey: '{GROQ_LITERAL}'
      baseURL: 'https://api.groq.com/openai/v1/'
      rateLimit: {{requests: 30, tokens: 100000, windowSeconds: 60}}
      fallbacks: ['openAI/gpt-4o-mini']
      models:
        default:
          - 'llama3-70b-8192'
          - name: 'llama3-8b-8192'
            contextWindow: 8192
            vision: false
            rateLimit: {{tokens: 5000, windowSeconds: 10}}
      titleConvo: true
      titleModel: 'llama3-8b-8192'
      dropParams: ['stop', 'user']
      addParams: {{safe_prompt: true}}
      modelDisplayLabel: 'Groq'
    - name: 'OLLAMA'
      apiKey: 'ollama'
      baseURL: 'http://127.0.0.1:11434/v1/'
      models:
        default: ['llama3.2']
        fetch: true
        userIdQuery: true
    - name: 'OpenRouter'
      apiKey: 'user_provided'
      baseURL: 'user_provided'
      headers: {{x-title: 'LibreChat', x-parent: '{{{{LIBRECHAT_BODY_PARENTMESSAGEID}}}}'}}
      iconURL: 'https://openrouter.ai/favicon.ico'
      models:
        default: ['meta-llama/llama-3-70b-instruct', 'openai/gpt-4o-mini']
    - name: 'claude-relay'
      provider: 'anthropic'
      apiKey: '${{ANTHROPIC_API_KEY}}'
      baseURL: 'https://api.anthropic.com'
      headers: {{anthropic-version: '2023-06-01'}}
      models:
        default: ['claude-sonnet-4-5']
"""

SMALL = """\
version: 1.3.14
endpoints:
  custom:
    - name: 'groq'
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      models:
        default: ['llama3-70b-8192', 'llama3-8b-8192']
    - name: 'Mistral'
      apiKey: '${MISTRAL_API_KEY}'
      baseURL: 'https://api.mistral.ai/v1'
      models:
        default: ['mistral-tiny']
"""


# --- helpers ----------------------------------------------------------------------------------


def seed(path: Path | str, *args: str) -> str:
    out = StringIO()
    call_command("seed_endpoints", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_endpoints", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def changes(output: str) -> int:
    match = re.search(r": (\d+) changes?(?:,| applied| would be applied)", output)
    assert match, output
    return int(match[1])


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the three tables, every concrete field, in id order."""
    return {
        model.__name__: [
            {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}
            for row in model.objects.order_by("pk")
        ]
        for model in (Endpoint, AzureGroup, EndpointModel)
    }


def portable() -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The rows keyed by their natural keys, without ids, timestamps or ciphertexts (which
    differ between two databases); literal keys compared by their decrypted values."""

    def fields(row: Any, skip: set[str]) -> dict[str, Any]:
        return {
            f.attname: getattr(row, f.attname)
            for f in row._meta.concrete_fields
            if f.attname not in skip | {"id", "updated_at", "api_key_secret"}
        }

    endpoints = {}
    for row in Endpoint.objects.all():
        data = fields(row, set())
        data["secret"] = row.api_key_secret and secrets.decrypt(
            row.api_key_secret, context=secret_context(f"endpoint:{row.name}")
        )
        endpoints[(row.name,)] = data
    groups = {}
    for row in AzureGroup.objects.select_related("endpoint"):
        data = fields(row, {"endpoint_id"})
        data["secret"] = row.api_key_secret and secrets.decrypt(
            row.api_key_secret, context=secret_context(f"azure-group:{row.endpoint.name}:{row.group}")
        )
        groups[(row.endpoint.name, row.group)] = data
    models = {}
    for row in EndpointModel.objects.select_related("endpoint", "group"):
        data = fields(row, {"endpoint_id", "group_id"})
        data["group"] = row.group.group if row.group else None
        models[(row.endpoint.name, row.model_id)] = data
    return {"Endpoint": endpoints, "AzureGroup": groups, "EndpointModel": models}


def assert_same_rows(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> None:
    for table in before:
        assert len(after[table]) == len(before[table]), f"{table}: {len(before[table])} rows -> {len(after[table])}"
        for row_before, row_after in zip(before[table], after[table], strict=True):
            assert row_after == row_before, f"{table} row {row_before.get('id')} differs"


def all_stored_text() -> str:
    """Every value of every row, as text: what someone reading the database would see."""
    return repr(snapshot())


@pytest.fixture
def env(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = dict(ENV)
    return settings.LIBRECHAT_ENDPOINT_VARS


@pytest.fixture
def config_file(tmp_path, env):
    path = tmp_path / "librechat.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def small_file(tmp_path, settings):
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


pytestmark = pytest.mark.django_db


# --- seeding ----------------------------------------------------------------------------------


def test_it_creates_the_rows_on_the_first_seed(config_file):
    output = seed(config_file)
    names = set(Endpoint.objects.values_list("name", flat=True))
    assert names == {
        "openAI",
        "anthropic",
        "assistants",
        "azureOpenAI",
        "azureAssistants",
        "groq",
        "ollama",
        "OpenRouter",
        "claude-relay",
    }
    assert "created endpoint groq" in output
    assert changes(output) > 0
    assert list(
        EndpointModel.objects.filter(endpoint__name="groq").order_by("position").values_list("model_id", flat=True)
    ) == ["llama3-70b-8192", "llama3-8b-8192"]
    assert list(AzureGroup.objects.order_by("position").values_list("group", flat=True)) == [
        "westus",
        "mistral-serverless",
    ]
    openai = Endpoint.objects.get(name="openAI")
    assert openai.api_key == "${OPENAI_API_KEY}" and openai.source == Source.YAML
    assert list(openai.models.order_by("position").values_list("model_id", flat=True)) == ["gpt-4o", "gpt-4o-mini"]


def test_it_reports_zero_changes_on_the_second_seed(config_file):
    seed(config_file)
    before = snapshot()
    output = seed(config_file)
    assert changes(output) == 0
    assert "0 changes, the endpoints already match it" in output
    assert_same_rows(before, snapshot())


def test_it_keeps_row_ids_stable_when_the_file_changes(config_file):
    seed(config_file)
    ids = {
        "endpoints": dict(Endpoint.objects.values_list("name", "id")),
        "groups": dict(AzureGroup.objects.values_list("group", "id")),
        "models": {(m.endpoint.name, m.model_id): m.id for m in EndpointModel.objects.select_related("endpoint")},
    }
    edited = (
        CONFIG.replace("https://api.groq.com/openai/v1/", "https://api.groq.com/openai/v2/")
        .replace("contextWindow: 8192", "contextWindow: 4096")
        .replace("instanceName: 'librechat-westus'", "instanceName: 'librechat-westus2'")
    )
    config_file.write_text(edited)
    output = seed(config_file)
    assert "updated endpoint groq: base_url" in output
    assert "updated group azureOpenAI/westus" in output
    assert re.search(r"updated \(.*context_window.*\) model groq/llama3-8b-8192", output), output
    assert dict(Endpoint.objects.values_list("name", "id")) == ids["endpoints"]
    assert dict(AzureGroup.objects.values_list("group", "id")) == ids["groups"]
    assert {(m.endpoint.name, m.model_id): m.id for m in EndpointModel.objects.select_related("endpoint")} == ids[
        "models"
    ]
    assert Endpoint.objects.get(name="groq").base_url == "https://api.groq.com/openai/v2/"


def test_it_changes_nothing_on_a_dry_run_and_says_what_it_would_do(config_file):
    output = seed(config_file, "--dry-run")
    assert "would: created endpoint groq" in output
    assert "would: added model groq/llama3-70b-8192" in output
    assert changes(output) > 0 and "would be applied (dry run: nothing changed)" in output
    assert not Endpoint.objects.exists()
    assert not AzureGroup.objects.exists()
    assert not EndpointModel.objects.exists()


def test_it_changes_nothing_on_a_dry_run_over_existing_rows(config_file):
    seed(config_file)
    before = snapshot()
    config_file.write_text(CONFIG.replace("mistral-large: true", "mistral-large: true\n          mistral-small: true"))
    output = seed(config_file, "--dry-run", "--prune")
    assert "would: added model azureOpenAI/mistral-small" in output
    assert changes(output) == 1
    assert_same_rows(before, snapshot())
    assert changes(seed(config_file, "--dry-run")) == 1  # the same answer again: nothing was applied


def test_it_keeps_an_endpoint_edited_in_admin_unless_overwrite(config_file):
    seed(config_file)
    row = Endpoint.objects.get(name="groq")
    row.base_url = "https://groq-proxy.internal.example/v1"
    row.admin_modified = True
    row.save()
    output = seed(config_file)
    assert "kept endpoint groq: edited in admin" in output
    row.refresh_from_db()
    assert row.base_url == "https://groq-proxy.internal.example/v1"
    assert row.admin_modified is True

    output = seed(config_file, "--overwrite")
    assert "updated endpoint groq" in output
    row.refresh_from_db()
    assert row.base_url == "https://api.groq.com/openai/v1/"
    assert row.admin_modified is False
    assert changes(seed(config_file)) == 0


def test_it_keeps_a_model_edited_in_admin_unless_overwrite(config_file):
    seed(config_file)
    model = EndpointModel.objects.get(endpoint__name="groq", model_id="llama3-8b-8192")
    model.context_window = 131072
    model.label = "Llama 3 8B (admin)"
    model.admin_modified = True
    model.save()
    output = seed(config_file)
    assert "kept model groq/llama3-8b-8192: edited in admin" in output
    model.refresh_from_db()
    assert (model.context_window, model.label) == (131072, "Llama 3 8B (admin)")

    seed(config_file, "--overwrite")
    model.refresh_from_db()
    assert (model.context_window, model.label, model.admin_modified) == (8192, "", False)


def test_it_removes_a_model_dropped_from_the_file_but_keeps_admin_added_models(small_file):
    seed(small_file)
    groq = Endpoint.objects.get(name="groq")
    EndpointModel.objects.create(endpoint=groq, model_id="added-in-admin", source=Source.ADMIN)
    small_file.write_text(SMALL.replace("['llama3-70b-8192', 'llama3-8b-8192']", "['llama3-70b-8192']"))
    output = seed(small_file)
    assert "removed model groq/llama3-8b-8192 (no longer configured)" in output
    assert set(groq.models.values_list("model_id", flat=True)) == {"llama3-70b-8192", "added-in-admin"}


def test_it_prunes_endpoints_no_longer_configured_but_never_admin_created_ones(small_file):
    seed(small_file)
    admin_made = Endpoint.objects.create(
        name="made-in-admin", kind="custom", base_url="https://api.example.com/v1", source=Source.ADMIN
    )
    EndpointModel.objects.create(endpoint=admin_made, model_id="m", source=Source.ADMIN)
    small_file.write_text(SMALL.split("    - name: 'Mistral'")[0])

    output = seed(small_file)  # without --prune nothing is removed
    assert set(Endpoint.objects.values_list("name", flat=True)) == {"groq", "Mistral", "made-in-admin"}
    assert "removed endpoint" not in output

    output = seed(small_file, "--prune")
    assert "removed endpoint Mistral (no longer configured)" in output
    assert set(Endpoint.objects.values_list("name", flat=True)) == {"groq", "made-in-admin"}
    assert not EndpointModel.objects.filter(endpoint__name="Mistral").exists()
    assert EndpointModel.objects.filter(endpoint=admin_made).count() == 1
    assert changes(seed(small_file, "--prune")) == 0


# --- secrets ----------------------------------------------------------------------------------


def test_it_stores_a_literal_api_key_encrypted_never_in_plain_text(config_file):
    seed(config_file)
    groq = Endpoint.objects.get(name="groq")
    assert groq.api_key == ""
    assert groq.api_key_secret and GROQ_LITERAL not in groq.api_key_secret
    assert groq.api_key_hint == "…" + GROQ_LITERAL[-4:]
    assert secrets.decrypt(groq.api_key_secret, context=secret_context("endpoint:groq")) == GROQ_LITERAL
    group = AzureGroup.objects.get(group="mistral-serverless")
    assert group.api_key == "" and group.api_key_secret
    assert secrets.decrypt(
        group.api_key_secret, context=secret_context("azure-group:azureOpenAI:mistral-serverless")
    ) == (AZURE_LITERAL)
    stored = all_stored_text()
    for literal in (GROQ_LITERAL, AZURE_LITERAL, ENV["OPENAI_API_KEY"]):
        assert literal not in stored
    # References and user_provided are stored as they are written.
    assert Endpoint.objects.get(name="OpenRouter").api_key == "user_provided"
    assert Endpoint.objects.get(name="claude-relay").api_key == "${ANTHROPIC_API_KEY}"
    assert AzureGroup.objects.get(group="westus").api_key == "${WESTUS_API_KEY}"


def test_it_does_not_re_encrypt_an_unchanged_literal_key(config_file):
    seed(config_file)
    token = Endpoint.objects.get(name="groq").api_key_secret
    seed(config_file)
    assert Endpoint.objects.get(name="groq").api_key_secret == token


# --- export -----------------------------------------------------------------------------------


def test_it_seeds_the_export_back_to_identical_rows(config_file):
    seed(config_file)
    before = snapshot()
    text, _ = export("--include-secrets")
    exported = config_file.parent / "exported.yaml"
    exported.write_text(text)
    output = seed(exported)
    assert changes(output) == 0, output
    assert_same_rows(before, snapshot())


def test_it_seeds_the_export_into_an_empty_database_as_the_same_rows(config_file):
    seed(config_file)
    before = portable()
    text, _ = export("--include-secrets")
    Endpoint.objects.all().delete()
    exported = config_file.parent / "exported.yaml"
    exported.write_text(text)
    seed(exported)
    after = portable()
    for table in before:
        assert sorted(after[table]) == sorted(before[table]), table
        for key in before[table]:
            assert after[table][key] == before[table][key], f"{table} {key}"


def test_it_writes_the_export_to_a_file_with_o(config_file, tmp_path):
    seed(config_file)
    target = tmp_path / "out.yaml"
    out, err = export("-o", str(target), "--include-secrets")
    assert out == ""
    assert f"wrote {target}" in err
    assert target.read_text() == export("--include-secrets")[0]


def test_it_exports_no_literal_secret_by_default_and_warns(config_file):
    seed(config_file)
    text, err = export()
    for literal in (GROQ_LITERAL, AZURE_LITERAL, ENV["OPENAI_API_KEY"]):
        assert literal not in text
        assert literal not in err
    assert "warning: endpoint:groq" in err
    assert "warning: azure-group:azureOpenAI:mistral-serverless" in err
    config = parse_text(text, env=ENV)
    groq = config.endpoint("groq")
    assert groq.api_key.startswith("${") and groq.api_key.endswith("}")
    assert groq.api_key[2:-1] in err  # the warning names the variable to set
    assert "user_provided" in text and "${ANTHROPIC_API_KEY}" in text


def test_it_exports_a_yaml_that_parses_again(config_file):
    seed(config_file)
    for args in ((), ("--include-secrets",)):
        text, _ = export(*args)
        config = parse_text(text, env=ENV)
        assert {e.name for e in config.endpoints} == set(Endpoint.objects.values_list("name", flat=True))
        assert config.version


# --- LibreChat's example ---------------------------------------------------------------------


def example_file() -> Path:
    if not EXAMPLE_YAML.is_file():
        pytest.skip(f"LibreChat's example config is not at {EXAMPLE_YAML}")
    return EXAMPLE_YAML


EXAMPLE_CUSTOM = {
    "Claude-Compatible": ["claude-sonnet-4-5", "claude-opus-4-5"],
    "groq": ["llama3-70b-8192", "llama3-8b-8192", "llama2-70b-4096", "mixtral-8x7b-32768", "gemma-7b-it"],
    "Mistral": ["mistral-tiny", "mistral-small", "mistral-medium"],
    "OpenRouter": ["meta-llama/llama-3-70b-instruct"],
    "Helicone": ["gpt-4o-mini", "claude-4.5-sonnet", "llama-3.1-8b-instruct", "gemini-2.5-flash-lite"],
    "Portkey": ["gpt-4o-mini", "gpt-4o", "chatgpt-4o-latest"],
}


def test_it_seeds_librechats_example_with_its_custom_endpoints_and_models(settings):
    path = example_file()
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    seed(path)
    seeded = {
        e.name: list(e.models.order_by("position").values_list("model_id", flat=True))
        for e in Endpoint.objects.order_by("position")
    }
    assert seeded == EXAMPLE_CUSTOM
    assert list(seeded) == list(EXAMPLE_CUSTOM)  # in the yaml's order
    assert Endpoint.objects.get(name="Claude-Compatible").wire == "anthropic"
    assert changes(seed(path)) == 0


def test_it_stores_portkeys_literal_dummy_key_encrypted(settings):
    path = example_file()
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    seed(path)
    portkey = Endpoint.objects.get(name="Portkey")
    assert portkey.api_key == ""
    assert portkey.api_key_secret
    assert "dummy" not in portkey.api_key_secret
    assert portkey.api_key_hint and "dummy" not in portkey.api_key_hint
    assert secrets.decrypt(portkey.api_key_secret, context=secret_context("endpoint:Portkey")) == "dummy"
    assert portkey.headers == {
        "x-portkey-api-key": "${PORTKEY_API_KEY}",
        "x-portkey-virtual-key": "${PORTKEY_OPENAI_VIRTUAL_KEY}",
    }


def test_it_round_trips_librechats_example(settings, tmp_path):
    path = example_file()
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    seed(path)
    before = snapshot()
    text, _ = export("--include-secrets")
    exported = tmp_path / "exported.yaml"
    exported.write_text(text)
    assert changes(seed(exported)) == 0
    assert_same_rows(before, snapshot())


@pytest.mark.django_db
def test_it_exports_and_reseeds_the_balance_settings(tmp_path, settings):
    from django.core.management import call_command

    from endpoints.config import parse_text

    settings.LIBRECHAT_ENDPOINT_VARS = {}
    path = tmp_path / "librechat.yaml"
    path.write_text(
        "version: 1.3.14\nbalance: {enabled: true, startBalance: 5000, autoRefillEnabled: true, "
        "refillIntervalValue: 7, refillIntervalUnit: days, refillAmount: 1000}\n"
    )
    call_command("seed_endpoints", str(path), stdout=io.StringIO())
    exported = io.StringIO()
    call_command("export_endpoints", stdout=exported)
    config = parse_text(exported.getvalue(), env={})
    assert config.balance is not None and config.balance["startBalance"] == 5000
    path.write_text(exported.getvalue())
    out = io.StringIO()
    call_command("seed_endpoints", str(path), stdout=out)
    assert "0 changes" in out.getvalue()
