"""LibreChat's configuration rules, the positive side: what a valid librechat.yaml plus
LibreChat's environment variables turn into (specs from ``parse_text``/``load_config``,
and rows after ``seed_endpoints``)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from endpoints.config import ConfigError, load_config, parse_text
from endpoints.config.defaults import is_vision_model
from endpoints.config.interpolate import is_unresolved, resolve, resolve_headers
from endpoints.models import USER_PROVIDED, AzureGroup, Endpoint, EndpointModel, Source

BASE = Path(django_settings.BASE_DIR)
EXAMPLE_YAML = BASE.parent / "shared" / "reference" / "librechat.example.yaml"
SHARED_DEFAULTS = BASE.parent / "shared" / "reference" / "librechat_default_models.json"
FIXTURE_DEFAULTS = BASE / "fixtures" / "default_models.json"

#: LibreChat's endpoint variables, none of them set.
NO_VARS: dict[str, str | None] = dict.fromkeys(django_settings.LIBRECHAT_ENDPOINT_VARS)

BUILTINS = [
    # endpoint, key variable, models variable
    ("openAI", "OPENAI_API_KEY", "OPENAI_MODELS"),
    ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_MODELS"),
    ("google", "GOOGLE_KEY", "GOOGLE_MODELS"),
    ("assistants", "ASSISTANTS_API_KEY", "ASSISTANTS_MODELS"),
]


def custom(
    name: str = "groq", *, api_key: str = "${GROQ_API_KEY}", base_url: str = "https://api.groq.com/v1", extra: str = ""
) -> str:
    text = f"""\
version: 1.3.14
endpoints:
  custom:
    - name: '{name}'
      apiKey: '{api_key}'
      baseURL: '{base_url}'
      models:
        default: ['llama3-70b-8192']
"""
    return text + extra


def model_ids(spec) -> list[str]:
    return [m.model_id for m in spec.models]


def default_lists() -> dict[str, list[str]]:
    data = json.loads(FIXTURE_DEFAULTS.read_text())
    return {key: value for key, value in data.items() if not key.startswith("_")}


# --- ${VAR} interpolation (LibreChat's extractEnvVariable) ---------------------------------


def test_it_replaces_a_whole_value_variable():
    assert resolve("${GROQ_API_KEY}", {"GROQ_API_KEY": "gsk-123"}) == "gsk-123"


def test_it_replaces_every_variable_inside_a_composite_string():
    env = {"INSTANCE_NAME": "westus", "DEPLOYMENT_NAME": "gpt-4o-prod"}
    url = "https://${INSTANCE_NAME}.openai.azure.com/openai/deployments/${DEPLOYMENT_NAME}"
    assert resolve(url, env) == "https://westus.openai.azure.com/openai/deployments/gpt-4o-prod"
    assert resolve("Bearer ${A}:${B}-${A}", {"A": "x", "B": "y"}) == "Bearer x:y-x"


def test_it_leaves_unset_variables_literal():
    assert resolve("${NOT_SET}", {}) == "${NOT_SET}"
    assert resolve("https://${HOST}/${NOT_SET}/v1", {"HOST": "h.example"}) == "https://h.example/${NOT_SET}/v1"
    assert is_unresolved(resolve("${NOT_SET}", {}))
    assert not is_unresolved(resolve("${HOST}", {"HOST": "h"}))


def test_it_leaves_text_that_is_not_a_variable_reference_alone():
    env = {"A": "x"}
    assert resolve("plain-key", env) == "plain-key"
    assert resolve("$A and {A} and ${A", env) == "$A and {A} and ${A"
    assert resolve("{{LIBRECHAT_BODY_PARENTMESSAGEID}}", env) == "{{LIBRECHAT_BODY_PARENTMESSAGEID}}"


@pytest.mark.django_db  # changing settings bumps the config version
def test_it_resolves_from_the_process_environment_by_default(settings):
    settings.ENVIRON = {"PORTKEY_API_KEY": "pk-1"}
    assert resolve("${PORTKEY_API_KEY}") == "pk-1"
    assert resolve_headers({"x-portkey-api-key": "${PORTKEY_API_KEY}", "x-other": "${UNSET_ONE}"}) == {
        "x-portkey-api-key": "pk-1",
        "x-other": "${UNSET_ONE}",
    }


def test_it_keeps_variable_references_in_the_config_instead_of_their_values():
    text = custom(
        api_key="${GROQ_API_KEY}",
        base_url="${GROQ_BASE}/openai/v1",
        extra="      headers:\n        x-org: 'org-${GROQ_ORG}'\n",
    )
    spec = parse_text(text, env={}).endpoint("groq")
    assert spec.api_key == "${GROQ_API_KEY}"
    assert spec.base_url == "${GROQ_BASE}/openai/v1"
    assert spec.headers == {"x-org": "org-${GROQ_ORG}"}


def test_it_stores_a_reference_to_the_key_variable_never_its_value():
    config = parse_text("version: 1.3.14\n", env={"OPENAI_API_KEY": "sk-very-secret", "OPENAI_ORGANIZATION": "org-1"})
    spec = config.endpoint("openAI")
    assert spec.api_key == "${OPENAI_API_KEY}"
    assert spec.organization == "${OPENAI_ORGANIZATION}"
    assert "sk-very-secret" not in repr(config)


# --- user_provided --------------------------------------------------------------------------


def test_it_accepts_user_provided_key_and_base_url_for_a_custom_endpoint():
    spec = parse_text(custom(api_key="user_provided", base_url="user_provided"), env={}).endpoint("groq")
    assert spec.api_key == USER_PROVIDED
    assert spec.base_url == USER_PROVIDED


@pytest.mark.parametrize(("endpoint", "key_var", "_models_var"), BUILTINS)
def test_it_marks_a_builtin_user_provided_from_its_variable(endpoint, key_var, _models_var):
    spec = parse_text("version: 1.3.14\n", env={key_var: "user_provided"}).endpoint(endpoint)
    assert spec.api_key == USER_PROVIDED
    assert spec.models_fetch is False  # nothing to fetch with until a user gives a key


def test_it_takes_a_user_provided_reverse_proxy():
    spec = parse_text(
        "version: 1.3.14\n",
        env={"ANTHROPIC_API_KEY": "user_provided", "ANTHROPIC_REVERSE_PROXY": "user_provided"},
    ).endpoint("anthropic")
    assert spec.base_url == USER_PROVIDED


# --- model lists from the environment ---------------------------------------------------


@pytest.mark.parametrize(("endpoint", "key_var", "models_var"), BUILTINS)
def test_it_splits_a_models_variable_on_commas_and_trims(endpoint, key_var, models_var):
    spec = parse_text("version: 1.3.14\n", env={key_var: "k", models_var: " a , b,,c "}).endpoint(endpoint)
    assert model_ids(spec) == ["a", "b", "c"]
    assert {m.source for m in spec.models} == {Source.ENV}
    assert spec.models_fetch is False


@pytest.mark.parametrize(("endpoint", "key_var", "_models_var"), BUILTINS)
def test_it_uses_librechats_default_models_when_no_variable_lists_them(endpoint, key_var, _models_var):
    spec = parse_text("version: 1.3.14\n", env={key_var: "k"}).endpoint(endpoint)
    assert model_ids(spec) == default_lists()[endpoint]
    assert {m.source for m in spec.models} == {Source.DEFAULT}


@pytest.mark.parametrize(("endpoint", "fetches"), [("openAI", True), ("anthropic", True), ("google", False)])
def test_it_asks_openai_and_anthropic_for_models_when_no_variable_lists_them(endpoint, fetches):
    key_var = {name: key for name, key, _ in BUILTINS}[endpoint]
    spec = parse_text("version: 1.3.14\n", env={key_var: "k"}).endpoint(endpoint)
    assert spec.models_fetch is fetches


def test_it_ships_the_default_model_lists_of_the_reference():
    if not SHARED_DEFAULTS.is_file():
        pytest.skip(f"{SHARED_DEFAULTS} is not there to compare with")
    assert json.loads(FIXTURE_DEFAULTS.read_text()) == json.loads(SHARED_DEFAULTS.read_text())


def test_it_enables_no_builtin_endpoint_without_its_key_variable():
    assert parse_text("version: 1.3.14\n", env=NO_VARS).endpoints == []


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["Ollama", "OLLAMA", "oLLaMa", "ollama"])
def test_it_normalises_any_spelling_of_ollama(spelling):
    config = parse_text(custom(name=spelling, api_key="ollama", base_url="http://127.0.0.1:11434/v1/"), env={})
    assert [e.name for e in config.endpoints] == ["ollama"]


@pytest.mark.parametrize("name", ["Groq", "ollama-local", "My Ollama", " Ollama "])
def test_it_keeps_other_custom_names_as_written(name):
    config = parse_text(custom(name=name), env={})
    assert [e.name for e in config.endpoints] == [name]


# --- the rest of librechat.yaml --------------------------------------------------------------


def test_it_accepts_and_ignores_librechats_other_top_level_sections():
    text = """\
version: 1.3.14
cache: true
fileStrategy: local
secureImageLinks: false
imageOutputType: png
interface:
  customWelcome: 'Welcome'
  modelSelect: true
  prompts: {use: true, create: true}
registration:
  socialLogins: ['github', 'google']
  allowedDomains: ['example.com']
balance:
  enabled: false
  startBalance: 20000
speech:
  tts: {openai: {apiKey: '${TTS_API_KEY}', model: 'tts-1', voices: ['alloy']}}
rateLimits:
  fileUploads: {ipMax: 100, ipWindowInMinutes: 60}
fileConfig:
  serverFileSizeLimit: 100
actions:
  allowedDomains: ['swapi.dev']
mcpServers:
  everything:
    command: npx
    args: ['-y', '@modelcontextprotocol/server-everything']
modelSpecs:
  list: []
webSearch:
  serperApiKey: '${SERPER_API_KEY}'
memory:
  disabled: true
turnstile:
  siteKey: 'abc'
endpoints:
  agents:
    disableBuilder: false
  bedrock:
    availableRegions: ['us-east-1']
  all:
    streamRate: 35
  custom:
    - name: 'groq'
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      models:
        default: ['llama3-70b-8192']
"""
    config = parse_text(text, env=NO_VARS)
    assert [e.name for e in config.endpoints] == ["groq"]
    assert config.balance == {"enabled": False, "startBalance": 20000}
    assert config.warnings == []


def test_it_refuses_an_unknown_endpoint_section_as_librechat_does():
    with pytest.raises(ConfigError, match=r"endpoints.someNewThing: unknown endpoint section"):
        parse_text("version: 1.3.14\nendpoints:\n  someNewThing:\n    x: 1\n", env=NO_VARS)


def test_it_keeps_librechat_keys_it_does_not_use_inside_an_endpoint_item():
    extra = "      titleConvo: true\n      titleModel: 'llama3-8b-8192'\n      summarize: false\n"
    spec = parse_text(custom(extra=extra), env={}).endpoint("groq")
    assert spec.extra == {"titleConvo": True, "titleModel": "llama3-8b-8192", "summarize": False}


EXTENSIONS = """\
version: 1.3.14
endpoints:
  openAI:
    rateLimit: {requests: 60, windowSeconds: 60}
    fallbacks: ['groq/llama3-70b-8192']
    models:
      default:
        - name: 'gpt-4o'
          label: 'GPT-4o (ours)'
          contextWindow: 64000
          maxOutputTokens: 4096
          vision: false
          tools: false
          streaming: false
          fallbacks: ['groq/llama3-8b-8192', 'groq/llama3-70b-8192']
          rateLimit: {tokens: 50000, windowSeconds: 30}
          prices: {prompt: 2.5, completion: '10', cached: 1.25}
  custom:
    - name: 'groq'
      apiKey: '${GROQ_API_KEY}'
      baseURL: 'https://api.groq.com/openai/v1/'
      rateLimit: {requests: 30, tokens: 100000, windowSeconds: 60}
      models:
        default:
          - 'llama3-70b-8192'
          - name: 'llama3-8b-8192'
            contextWindow: 8192
            vision: true
"""


def test_it_applies_the_yaml_extension_keys_to_specs():
    from decimal import Decimal

    config = parse_text(EXTENSIONS, env={"OPENAI_API_KEY": "k", "OPENAI_MODELS": "gpt-4o,gpt-4o-mini"})
    openai = config.endpoint("openAI")
    assert openai.rate_limit == {"requests": 60, "windowSeconds": 60}
    assert openai.fallbacks == ["groq/llama3-70b-8192"]
    gpt4o = next(m for m in openai.models if m.model_id == "gpt-4o")
    assert (gpt4o.label, gpt4o.context_window, gpt4o.max_output_tokens) == ("GPT-4o (ours)", 64000, 4096)
    assert (gpt4o.vision, gpt4o.tools, gpt4o.streaming) == (False, False, False)
    assert gpt4o.fallbacks == ["groq/llama3-8b-8192", "groq/llama3-70b-8192"]
    assert gpt4o.rate_limit == {"tokens": 50000, "windowSeconds": 30}
    assert (gpt4o.prompt_price, gpt4o.completion_price, gpt4o.cached_price) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    assert gpt4o.source == Source.YAML
    assert model_ids(openai) == ["gpt-4o", "gpt-4o-mini"]  # the yaml item replaced the env entry in place
    groq = config.endpoint("groq")
    assert groq.rate_limit == {"requests": 30, "tokens": 100000, "windowSeconds": 60}
    small = groq.models[1]
    assert (small.model_id, small.context_window, small.vision) == ("llama3-8b-8192", 8192, True)


@pytest.mark.django_db
def test_it_seeds_the_yaml_extension_keys_into_rows(settings, tmp_path):
    from decimal import Decimal

    settings.LIBRECHAT_ENDPOINT_VARS = {**NO_VARS, "OPENAI_API_KEY": "k", "OPENAI_MODELS": "gpt-4o,gpt-4o-mini"}
    path = tmp_path / "librechat.yaml"
    path.write_text(EXTENSIONS)
    call_command("seed_endpoints", str(path), stdout=StringIO(), stderr=StringIO())
    openai = Endpoint.objects.get(name="openAI")
    assert openai.rate_limit == {"requests": 60, "windowSeconds": 60}
    assert openai.fallbacks == ["groq/llama3-70b-8192"]
    assert openai.api_key == "${OPENAI_API_KEY}"
    row = EndpointModel.objects.get(endpoint=openai, model_id="gpt-4o")
    assert row.label == "GPT-4o (ours)"
    assert (row.context_window, row.max_output_tokens) == (64000, 4096)
    assert (row.vision, row.tools, row.streaming) == (False, False, False)
    assert row.fallbacks == ["groq/llama3-8b-8192", "groq/llama3-70b-8192"]
    assert row.rate_limit == {"tokens": 50000, "windowSeconds": 30}
    assert (row.prompt_price, row.completion_price, row.cached_price) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    mini = EndpointModel.objects.get(endpoint=openai, model_id="gpt-4o-mini")
    assert (mini.context_window, mini.vision, mini.prompt_price) == (128000, True, None)
    assert EndpointModel.objects.get(endpoint__name="groq", model_id="llama3-8b-8192").context_window == 8192


# --- catalog facts and LibreChat's vision patterns ----------------------------------------


def test_it_takes_context_windows_from_the_genai_prices_catalog():
    config = parse_text(
        "version: 1.3.14\n",
        env={
            "OPENAI_API_KEY": "k",
            "OPENAI_MODELS": "gpt-4o,gpt-3.5-turbo,o1-mini,no-such-model-xyz",
            "ANTHROPIC_API_KEY": "k",
            "ANTHROPIC_MODELS": "claude-3-5-sonnet-20241022",
        },
    )
    windows = {m.model_id: m.context_window for m in config.endpoint("openAI").models}
    assert windows["gpt-4o"] == 128000
    assert windows["gpt-3.5-turbo"] == 16385
    assert windows["no-such-model-xyz"] is None
    assert config.endpoint("anthropic").models[0].context_window == 200000


@pytest.mark.parametrize(
    ("model_id", "vision"),
    [
        ("gpt-4o", True),
        ("gpt-4o-mini", True),
        ("gpt-4-turbo", True),
        ("gpt-4-turbo-preview", False),
        ("gpt-3.5-turbo", False),
        ("o1", True),
        ("o1-mini", False),
        ("o3-mini", False),
        ("claude-3-5-sonnet", True),
        ("claude-3-5-sonnet-20241022", True),
        ("claude-sonnet-4-5", True),
        ("gemini-2.5-flash", True),
        ("llama3-70b-8192", False),
        ("llava-13b", True),
    ],
)
def test_it_follows_librechats_vision_model_patterns(model_id, vision):
    assert is_vision_model(model_id) is vision


def test_it_sets_vision_on_specs_from_the_patterns_unless_the_yaml_says_otherwise():
    text = (
        "version: 1.3.14\nendpoints:\n  openAI:\n    models:\n      default:\n        - {name: gpt-4o, vision: false}\n"
    )
    config = parse_text(text, env={"OPENAI_API_KEY": "k", "OPENAI_MODELS": "gpt-4o,gpt-3.5-turbo,o1-mini,gpt-4o-mini"})
    vision = {m.model_id: m.vision for m in config.endpoint("openAI").models}
    assert vision == {"gpt-4o": False, "gpt-3.5-turbo": False, "o1-mini": False, "gpt-4o-mini": True}


# --- LibreChat's own example ----------------------------------------------------------------

EXAMPLE_CUSTOM = {
    "Claude-Compatible": ["claude-sonnet-4-5", "claude-opus-4-5"],
    "groq": ["llama3-70b-8192", "llama3-8b-8192", "llama2-70b-4096", "mixtral-8x7b-32768", "gemma-7b-it"],
    "Mistral": ["mistral-tiny", "mistral-small", "mistral-medium"],
    "OpenRouter": ["meta-llama/llama-3-70b-instruct"],
    "Helicone": ["gpt-4o-mini", "claude-4.5-sonnet", "llama-3.1-8b-instruct", "gemini-2.5-flash-lite"],
    "Portkey": ["gpt-4o-mini", "gpt-4o", "chatgpt-4o-latest"],
}


@pytest.mark.django_db  # changing settings bumps the config version
def test_it_parses_librechats_example_yaml_with_no_variables_set(settings):
    if not EXAMPLE_YAML.is_file():
        pytest.skip(f"LibreChat's example config is not at {EXAMPLE_YAML}")
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    try:
        config = load_config(EXAMPLE_YAML)  # the environment from settings: nothing set
    except ConfigError as exc:  # pragma: no cover - the failure message lists every problem
        pytest.fail(f"the example config was rejected:\n{exc}")
    assert {e.name: model_ids(e) for e in config.endpoints} == EXAMPLE_CUSTOM
    claude = config.endpoint("Claude-Compatible")
    assert (claude.wire, claude.api_key, claude.headers) == (
        "anthropic",
        "${ANTHROPIC_API_KEY}",
        {"anthropic-version": "2023-06-01"},
    )
    portkey = config.endpoint("Portkey")
    assert portkey.headers["x-portkey-api-key"] == "${PORTKEY_API_KEY}"
    assert config.endpoint("Mistral").models_fetch is True
    assert config.endpoint("groq").models_fetch is False
    assert config.endpoint("Mistral").drop_params == ["stop", "user", "frequency_penalty", "presence_penalty"]


# --- Azure ----------------------------------------------------------------------------------

AZURE = """\
version: 1.3.14
endpoints:
  azureOpenAI:
    titleConvo: true
    groups:
      - group: 'librechat-westus'
        apiKey: '${WESTUS_API_KEY}'
        instanceName: 'librechat-westus'
        deploymentName: 'gpt-4-1106-preview'
        version: '2023-12-01-preview'
        baseURL: 'https://${INSTANCE_NAME}.openai.azure.com/openai/deployments/${DEPLOYMENT_NAME}'
        additionalHeaders:
          X-Custom-Header: '${CUSTOM_VALUE}'
        models:
          gpt-4-vision-preview:
            deploymentName: 'gpt-4-vision-preview'
            version: '2024-02-15-preview'
          gpt-3.5-turbo:
            deploymentName: 'gpt-35-turbo'
          gpt-4-1106-preview: true
      - group: 'mistral-inference'
        apiKey: '${AZURE_MISTRAL_API_KEY}'
        baseURL: 'https://Mistral-large-vnljs-serverless.region.inference.ai.azure.com/v1/chat/completions'
        serverless: true
        models:
          mistral-large: true
      - group: 'assistants-eastus'
        apiKey: '${EASTUS_API_KEY}'
        instanceName: 'librechat-eastus'
        deploymentName: 'gpt-4o'
        version: '2024-05-01-preview'
        assistants: true
        models:
          gpt-4o: true
"""


def test_it_reads_azure_groups_with_placeholders_serverless_and_per_model_mapping():
    config = parse_text(AZURE, env={})
    azure = config.endpoint("azureOpenAI")
    westus, serverless, eastus = azure.groups
    assert westus.base_url == "https://${INSTANCE_NAME}.openai.azure.com/openai/deployments/${DEPLOYMENT_NAME}"
    assert (westus.instance_name, westus.deployment_name, westus.version) == (
        "librechat-westus",
        "gpt-4-1106-preview",
        "2023-12-01-preview",
    )
    assert westus.headers == {"X-Custom-Header": "${CUSTOM_VALUE}"}
    assert westus.api_key == "${WESTUS_API_KEY}"
    assert serverless.serverless is True and serverless.instance_name == ""
    assert serverless.base_url.endswith("/v1/chat/completions")
    assert eastus.assistants is True and westus.assistants is False
    mapping = {m.model_id: (m.group, m.deployment_name, m.api_version) for m in azure.models}
    assert mapping == {
        "gpt-4-vision-preview": ("librechat-westus", "gpt-4-vision-preview", "2024-02-15-preview"),
        "gpt-3.5-turbo": ("librechat-westus", "gpt-35-turbo", ""),  # the group's version applies
        "gpt-4-1106-preview": ("librechat-westus", "", ""),  # the group's deployment and version
        "mistral-large": ("mistral-inference", "", ""),
        "gpt-4o": ("assistants-eastus", "", ""),
    }
    assert azure.extra == {"titleConvo": True}


def test_it_serves_azure_assistants_from_groups_marked_assistants():
    config = parse_text(AZURE, env={})
    assistants = config.endpoint("azureAssistants")
    assert assistants is not None
    assert [(m.model_id, m.group) for m in assistants.models] == [("gpt-4o", "assistants-eastus")]


def test_it_serves_only_the_assistants_groups_when_the_section_turns_assistants_on():
    text = AZURE.replace("    titleConvo: true\n", "    assistants: true\n")
    config = parse_text(text, env={})
    assert [g.group for g in config.endpoint("azureOpenAI").groups if g.assistants] == ["assistants-eastus"]
    assert [m.model_id for m in config.endpoint("azureAssistants").models] == ["gpt-4o"]


def test_it_refuses_assistants_on_without_a_group_for_them_as_librechat_does():
    text = AZURE.replace("    titleConvo: true\n", "    assistants: true\n").replace("        assistants: true\n", "")
    with pytest.raises(ConfigError, match=r"endpoints.azureOpenAI.assistants: no group has `assistants: true`"):
        parse_text(text, env={})


def test_it_has_no_azure_assistants_without_an_assistants_group():
    text = AZURE.replace("        assistants: true\n", "")
    assert parse_text(text, env={}).endpoint("azureAssistants") is None


@pytest.mark.django_db
def test_it_seeds_azure_groups_and_links_each_model_to_its_group(settings, tmp_path):
    settings.LIBRECHAT_ENDPOINT_VARS = dict(NO_VARS)
    path = tmp_path / "librechat.yaml"
    path.write_text(AZURE)
    call_command("seed_endpoints", str(path), stdout=StringIO(), stderr=StringIO())
    groups = {g.group: g for g in AzureGroup.objects.filter(endpoint__name="azureOpenAI")}
    assert list(groups) == ["librechat-westus", "mistral-inference", "assistants-eastus"]
    assert groups["mistral-inference"].serverless is True
    assert groups["librechat-westus"].api_key == "${WESTUS_API_KEY}"
    assert groups["librechat-westus"].api_key_secret == ""
    rows = EndpointModel.objects.filter(endpoint__name="azureOpenAI").select_related("group")
    assert {r.model_id: (r.group.group, r.deployment_name, r.api_version) for r in rows} == {
        "gpt-4-vision-preview": ("librechat-westus", "gpt-4-vision-preview", "2024-02-15-preview"),
        "gpt-3.5-turbo": ("librechat-westus", "gpt-35-turbo", ""),
        "gpt-4-1106-preview": ("librechat-westus", "", ""),
        "mistral-large": ("mistral-inference", "", ""),
        "gpt-4o": ("assistants-eastus", "", ""),
    }
    assistants = EndpointModel.objects.filter(endpoint__name="azureAssistants").select_related("group")
    assert [(r.model_id, r.group.group) for r in assistants] == [("gpt-4o", "assistants-eastus")]


def test_it_merges_the_azure_assistants_section_with_the_models_of_assistants_groups():
    from endpoints.config import parse_text

    config = parse_text(
        """
version: 1.3.14
endpoints:
  azureAssistants:
    pollIntervalMs: 500
    capabilities: [tools]
  azureOpenAI:
    groups:
      - group: east
        apiKey: k
        instanceName: east
        version: '2024-05-01-preview'
        assistants: true
        models:
          gpt-4o: {deploymentName: gpt4o}
""",
        env={},
    )
    spec = config.endpoint("azureAssistants")
    assert spec is not None
    assert (spec.poll_interval_ms, spec.capabilities) == (500, ["tools"])
    assert [(m.model_id, m.group, m.deployment_name) for m in spec.models] == [("gpt-4o", "east", "gpt4o")]
