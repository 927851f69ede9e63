"""``/api/endpoints`` and ``/api/models`` say what LibreChat says for the same librechat.yaml
(the differential test in test_librechat_parity.py checks the whole corpus against LibreChat's
own code; these pin the cases issue 14 named, without node), and ``export_endpoints`` writes
what it read."""

from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

from endpoints.catalog.librechat import DEFAULT_RETRIEVAL_MODELS
from tests.helpers import make_user, seed, token_client

pytestmark = pytest.mark.django_db

ENV = {"ASSISTANTS_API_KEY": "user_provided"}
CONFIG = """
version: 1.3.17
endpoints:
  azureAssistants:
    pollIntervalMs: 500
  azureOpenAI:
    assistants: true
    groups:
      - group: eastus
        apiKey: '${AZURE_EASTUS_KEY}'
        instanceName: my-eastus
        version: '2024-05-01-preview'
        assistants: true
        models:
          gpt-4o: {deploymentName: gpt-4o-prod}
      - group: serverless
        apiKey: '${AZURE_LLAMA_KEY}'
        serverless: true
        baseURL: 'https://llama.eastus.models.ai.azure.com/v1/chat/completions'
        models:
          Llama-3-70B: true
  custom:
    - name: Claude-Compatible
      provider: anthropic
      apiKey: '${ANTHROPIC_API_KEY}'
      baseURL: 'https://api.anthropic.com'
      models: {default: ['claude-sonnet-4-5']}
    - name: OpenRouter
      apiKey: '${OPENROUTER_KEY}'
      baseURL: 'https://openrouter.ai/api/v1'
      models: {default: ['meta-llama/llama-3-70b-instruct']}
    - name: groq
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      models: {default: ['llama3-70b-8192']}
"""


@pytest.fixture
def api(settings):
    settings.LIBRECHAT_ENDPOINT_VARS = dict(ENV)
    settings.ENVIRON = dict(ENV)
    seed(CONFIG, env=ENV)
    return token_client(make_user())


def test_it_sends_librechats_custom_params_for_anthropic_providers_and_openrouter(api):
    endpoints = api.get("/api/endpoints").json()
    assert endpoints["Claude-Compatible"]["customParams"] == {"defaultParamsEndpoint": "anthropic"}
    openrouter = endpoints["OpenRouter"]["customParams"]
    assert openrouter["defaultParamsEndpoint"] == "openrouter"
    (cache,) = openrouter["paramDefinitions"]
    assert (cache["key"], cache["default"], cache["optionType"], cache["component"]) == (
        "promptCache",
        True,
        "custom",
        "switch",
    )
    assert "customParams" not in endpoints["groq"]


def test_it_leaves_out_an_icon_and_label_that_are_not_set(api):
    groq = api.get("/api/endpoints").json()["groq"]
    assert "iconURL" not in groq and "modelDisplayLabel" not in groq


def test_it_sends_librechats_twenty_default_retrieval_models(api):
    endpoints = api.get("/api/endpoints").json()
    assert len(DEFAULT_RETRIEVAL_MODELS) == 20
    assert endpoints["assistants"]["retrievalModels"] == DEFAULT_RETRIEVAL_MODELS
    assert endpoints["assistants"]["version"] == 2  # no yaml section: LibreChat's generated number
    assert endpoints["azureAssistants"]["retrievalModels"] == DEFAULT_RETRIEVAL_MODELS  # a section exists


def test_it_serves_azure_assistants_only_from_groups_marked_for_assistants(api):
    models = api.get("/api/models").json()
    assert models["azureAssistants"] == ["gpt-4o"]
    assert models["azureOpenAI"] == ["gpt-4o", "Llama-3-70B"]


def test_it_exports_the_version_it_read_and_no_empty_endpoints_section(settings, tmp_path):
    settings.LIBRECHAT_ENDPOINT_VARS = {}
    path = tmp_path / "librechat.yaml"
    path.write_text("version: 1.2.8\nbalance: {enabled: true}\n")
    call_command("seed_endpoints", str(path), stdout=StringIO())
    out = StringIO()
    call_command("export_endpoints", stdout=out)
    exported = yaml.safe_load(out.getvalue())
    assert exported["version"] == "1.2.8"
    assert "endpoints" not in exported
