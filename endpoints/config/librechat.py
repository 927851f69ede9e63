"""librechat.yaml -> validated endpoint specs, following LibreChat's rules.

Unknown top-level keys are rejected (LibreChat's schema is strict there);
unknown keys inside an endpoint item are kept in ``extra`` for export, as
LibreChat strips them silently.  Our extensions (``rateLimit``, ``fallbacks``,
object items in ``models.default``) live inside endpoint items, where
LibreChat ignores them.
"""

from __future__ import annotations

from typing import Any

from endpoints.config.azure import read_azure
from endpoints.config.reader import Reader
from endpoints.config.specs import ConfigSpec, EndpointSpec, ModelSpec
from endpoints.config.yamlfile import ConfigError, Located, Problem, join
from endpoints.models import BUILTIN_NAMES, USER_PROVIDED, EndpointKind, Source, Wire

#: LibreChat's top-level configuration keys (configSchema, v0.8.x).
TOP_LEVEL_KEYS = {
    "version",
    "cache",
    "ocr",
    "webSearch",
    "memory",
    "secureImageLinks",
    "imageOutputType",
    "includedTools",
    "filteredTools",
    "mcpServers",
    "mcpSettings",
    "interface",
    "turnstile",
    "fileStrategy",
    "fileStrategies",
    "actions",
    "registration",
    "balance",
    "transactions",
    "speech",
    "rateLimits",
    "fileConfig",
    "modelSpecs",
    "endpoints",
    "summarization",
    "messageFilter",
    "skillSync",
    "langfuse",
    "cloudfront",
    "customConfig",
    "agents",
    "tenants",
    "userPermissions",
    "appTitle",
}

ENDPOINT_SECTIONS = {
    "all",
    "openAI",
    "google",
    "anthropic",
    "azureOpenAI",
    "assistants",
    "azureAssistants",
    "agents",
    "bedrock",
    "custom",
    "gptPlugins",
}

#: Keys of a custom endpoint item that we read into fields (the rest go to ``extra``).
CUSTOM_FIELDS = {
    "name",
    "apiKey",
    "baseURL",
    "models",
    "headers",
    "addParams",
    "dropParams",
    "modelDisplayLabel",
    "iconURL",
    "provider",
    "rateLimit",
    "fallbacks",
}
BUILTIN_FIELDS = {"headers", "baseURL", "rateLimit", "fallbacks", "models", "addParams", "dropParams"}
ASSISTANTS_FIELDS = {
    "disableBuilder",
    "pollIntervalMs",
    "timeoutMs",
    "version",
    "supportedIds",
    "excludedIds",
    "privateAssistants",
    "retrievalModels",
    "capabilities",
    "headers",
    "baseURL",
    "rateLimit",
    "fallbacks",
    "models",
}
ASSISTANT_CAPABILITIES = {"code_interpreter", "image_vision", "retrieval", "file_search", "actions", "tools"}
#: Column sizes of Endpoint.name and EndpointModel.model_id.
MAX_ENDPOINT_NAME = 100
MAX_MODEL_ID = 255
MODEL_ITEM_KEYS = {
    "name",
    "label",
    "description",
    "contextWindow",
    "maxOutputTokens",
    "vision",
    "tools",
    "streaming",
    "fallbacks",
    "rateLimit",
    "prices",
}


def normalize_name(name: str) -> str:
    """LibreChat's normalizeEndpointName: any spelling of "ollama" becomes "ollama"."""
    return "ollama" if name.lower() == "ollama" else name


def parse(data: Any, where: Located) -> ConfigSpec:
    """Validate a parsed librechat.yaml; raise ConfigError listing every problem."""
    r = Reader(where)
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must be a YAML mapping with at least `version:`")])
    r.only_keys(data, TOP_LEVEL_KEYS, "")
    version = r.string(data, "version", "", required=True)
    endpoints_data = r.mapping(data, "endpoints", "") or {}
    for key in endpoints_data:
        if key not in ENDPOINT_SECTIONS:
            r.warn(join("endpoints", key), "unknown endpoint section; LibreChat ignores it, and so do we")
    specs: list[EndpointSpec] = []
    for name in ("openAI", "anthropic", "google"):
        item = r.mapping(endpoints_data, name, "endpoints")
        if item is not None:
            specs.append(_builtin(r, name, item, join("endpoints", name)))
    sections = {}
    for name in ("assistants", "azureAssistants"):
        item = r.mapping(endpoints_data, name, "endpoints")
        if item is not None:
            sections[name] = _assistants(r, name, item, join("endpoints", name))
    azure = r.mapping(endpoints_data, "azureOpenAI", "endpoints")
    for spec in read_azure(r, azure, "endpoints.azureOpenAI") if azure is not None else []:
        section = sections.pop(spec.name, None) if spec.kind == EndpointKind.AZURE_ASSISTANTS else None
        if section is not None:
            # endpoints.azureAssistants holds the settings; the models come from the groups.
            section.models = spec.models
            spec = section
        specs.append(spec)
    specs.extend(sections.values())
    specs.extend(_customs(r, endpoints_data))
    balance = r.mapping(data, "balance", "")
    if balance is not None:
        from endpoints.config.balance import problems as balance_problems

        for problem in balance_problems(balance):
            r.error(problem.path, problem.message)
    if r.problems:
        raise ConfigError(r.problems)
    return ConfigSpec(version=version, endpoints=specs, balance=balance, warnings=r.warnings)


# --- shared pieces -------------------------------------------------------------------


def read_rate_limit(r: Reader, item: dict[str, Any], path: str) -> dict[str, int] | None:
    data = r.mapping(item, "rateLimit", path)
    if data is None:
        return None
    here = join(path, "rateLimit")
    r.only_keys(data, {"requests", "tokens", "windowSeconds"}, here)
    requests = r.integer(data, "requests", here, minimum=1)
    tokens = r.integer(data, "tokens", here, minimum=1)
    window = r.integer(data, "windowSeconds", here, minimum=1, required=True)
    if requests is None and tokens is None and "requests" not in data and "tokens" not in data:
        r.error(here, "give `requests`, `tokens` or both")
    limit = {"windowSeconds": window or 60}
    if requests is not None:
        limit["requests"] = requests
    if tokens is not None:
        limit["tokens"] = tokens
    return limit


def read_fallbacks(r: Reader, item: dict[str, Any], path: str) -> tuple[list[str], list[tuple[str, int | None]]]:
    """The fallback list and where each entry was written (for later cross-checks)."""
    values = r.string_list(item, "fallbacks", path) or []
    where = []
    for index, value in enumerate(values):
        here = join(join(path, "fallbacks"), index)
        where.append((here, r.where.line(here)))
        endpoint, _, model = value.partition("/")
        if not endpoint or not model:
            r.error(here, f"expected 'endpoint/model', got {value!r}")
    return values, where


def read_models_default(r: Reader, models: dict[str, Any], path: str, *, required: bool) -> list[ModelSpec]:
    here = join(path, "default")
    items = models.get("default")
    if items is None:
        if required:
            r.error(here, "is required: list at least one model")
        return []
    if not isinstance(items, list):
        r.error(here, "expected a list of model names")
        return []
    if required and not items:
        r.error(here, "list at least one model")
    result: list[ModelSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        spec = _model_item(r, item, join(here, index))
        if spec is None:
            continue
        if spec.model_id in seen:
            r.error(join(here, index), f"model {spec.model_id!r} is listed twice")
            continue
        seen.add(spec.model_id)
        result.append(spec)
    return result


def _model_item(r: Reader, item: Any, path: str) -> ModelSpec | None:
    if isinstance(item, str):
        if not item.strip():
            r.error(path, "a model name must not be empty")
            return None
        if len(item) > MAX_MODEL_ID:
            r.error(path, f"a model name must be at most {MAX_MODEL_ID} characters")
            return None
        return ModelSpec(model_id=item, source=Source.YAML)
    if not isinstance(item, dict):
        raw = r.where.raw.get(path)
        hint = f"; put it in quotes: '{raw}'" if raw is not None else ""
        r.error(path, f"expected a model name or {{name: …}}{hint}")
        return None
    r.only_keys(item, MODEL_ITEM_KEYS, path)
    name = r.string(item, "name", path, required=True)
    if not name:
        return None
    if len(name) > MAX_MODEL_ID:
        r.error(join(path, "name"), f"a model name must be at most {MAX_MODEL_ID} characters")
        return None
    spec = ModelSpec(model_id=name, source=Source.YAML, overrides=dict(item))
    spec.label = r.string(item, "label", path)
    spec.context_window = r.integer(item, "contextWindow", path, minimum=1)
    spec.max_output_tokens = r.integer(item, "maxOutputTokens", path, minimum=1)
    for key in ("vision", "tools", "streaming"):
        if key in item:
            setattr(spec, key, r.boolean(item, key, path))
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    spec.rate_limit = read_rate_limit(r, item, path)
    prices = r.mapping(item, "prices", path)
    if prices is not None:
        here = join(path, "prices")
        r.only_keys(prices, {"prompt", "completion", "cached"}, here)
        spec.prompt_price = r.price(prices, "prompt", here)
        spec.completion_price = r.price(prices, "completion", here)
        spec.cached_price = r.price(prices, "cached", here)
    return spec


def check_url(r: Reader, value: str, path: str) -> None:
    """A literal base URL must be http(s) with a host and not a cloud-metadata address."""
    if not value or value == USER_PROVIDED or "${" in value:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        r.error(path, f"not a URL: {value!r}")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        r.error(path, f"expected an http(s) URL with a host, got {value!r}")
        return
    try:
        from endpoints.netguard import UnsafeURLError, validate_admin_url
    except ImportError:  # pragma: no cover - the guard module is part of the app
        return
    try:
        # No DNS while seeding: literal addresses and metadata names are checked here.
        validate_admin_url(value, resolve=lambda _host, _port: [])
    except UnsafeURLError as exc:
        r.error(path, str(exc))


def _extra(item: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in known}


# --- sections --------------------------------------------------------------------------


def _builtin(r: Reader, name: str, item: dict[str, Any], path: str) -> EndpointSpec:
    spec = EndpointSpec(name=name, kind=name, source=Source.YAML)
    spec.headers = r.string_map(item, "headers", path)
    spec.base_url = r.string(item, "baseURL", path)
    check_url(r, spec.base_url, join(path, "baseURL"))
    spec.add_params = r.mapping(item, "addParams", path) or {}
    spec.drop_params = r.string_list(item, "dropParams", path) or []
    spec.rate_limit = read_rate_limit(r, item, path)
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    models = r.mapping(item, "models", path)
    if models is not None:
        spec.models = read_models_default(r, models, join(path, "models"), required=False)
    spec.extra = _extra(item, BUILTIN_FIELDS)
    return spec


def _assistants(r: Reader, name: str, item: dict[str, Any], path: str) -> EndpointSpec:
    spec = _builtin(r, name, item, path)
    spec.extra = _extra(item, ASSISTANTS_FIELDS)
    spec.disable_builder = r.boolean(item, "disableBuilder", path)
    spec.private_assistants = r.boolean(item, "privateAssistants", path)
    spec.poll_interval_ms = r.integer(item, "pollIntervalMs", path, minimum=1)
    spec.timeout_ms = r.integer(item, "timeoutMs", path, minimum=1)
    version = item.get("version")
    if version is not None:
        # LibreChat accepts a string or a number here and shows it as a string.
        if isinstance(version, bool) or not isinstance(version, str | int | float):
            r.error(join(path, "version"), "expected a version such as 2 or 'v2'")
        else:
            spec.version = r.where.raw.get(join(path, "version"), str(version))
    spec.supported_ids = r.string_list(item, "supportedIds", path)
    spec.excluded_ids = r.string_list(item, "excludedIds", path)
    if spec.supported_ids is not None and spec.excluded_ids is not None:
        r.error(join(path, "excludedIds"), "use either supportedIds or excludedIds, not both")
    spec.retrieval_models = r.string_list(item, "retrievalModels", path)
    capabilities = r.string_list(item, "capabilities", path)
    if capabilities is not None:
        for index, capability in enumerate(capabilities):
            if capability not in ASSISTANT_CAPABILITIES:
                r.error(
                    join(join(path, "capabilities"), index),
                    f"unknown capability {capability!r}; expected one of {', '.join(sorted(ASSISTANT_CAPABILITIES))}",
                )
        spec.capabilities = capabilities
    return spec


def _customs(r: Reader, endpoints_data: dict[str, Any]) -> list[EndpointSpec]:
    items = endpoints_data.get("custom")
    if items is None:
        return []
    if not isinstance(items, list):
        r.error("endpoints.custom", "expected a list of endpoints")
        return []
    specs: list[EndpointSpec] = []
    names: dict[str, str] = {}
    for index, item in enumerate(items):
        path = join("endpoints.custom", index)
        if not isinstance(item, dict):
            r.error(path, "expected a mapping with name, apiKey, baseURL and models")
            continue
        spec = _custom(r, item, path, index)
        if spec is None:
            continue
        if spec.name in names:
            r.error(join(path, "name"), f"{spec.name!r} is already the name of {names[spec.name]}")
            continue
        names[spec.name] = path
        specs.append(spec)
    return specs


def _custom(r: Reader, item: dict[str, Any], path: str, index: int) -> EndpointSpec | None:
    raw_name = r.string(item, "name", path, required=True)
    name = normalize_name(raw_name.strip())
    if name in BUILTIN_NAMES:
        r.error(join(path, "name"), f"{name!r} is a built-in endpoint name; give the custom endpoint another name")
    if len(name) > MAX_ENDPOINT_NAME:
        r.error(join(path, "name"), f"an endpoint name must be at most {MAX_ENDPOINT_NAME} characters")
    spec = EndpointSpec(name=name, kind=EndpointKind.CUSTOM, source=Source.YAML, position=index)
    spec.api_key = r.string(item, "apiKey", path, required=True)
    spec.base_url = r.string(item, "baseURL", path, required=True).strip()
    check_url(r, spec.base_url, join(path, "baseURL"))
    provider = r.string(item, "provider", path, default=Wire.OPENAI).lower()
    if provider not in Wire.values:
        r.error(join(path, "provider"), f"expected one of {', '.join(Wire.values)}, got {provider!r}")
    spec.wire = provider
    models = r.mapping(item, "models", path, required=True)
    if models is not None:
        here = join(path, "models")
        r.only_keys(models, {"default", "fetch", "userIdQuery"}, here)
        spec.models = read_models_default(r, models, here, required=True)
        spec.models_fetch = r.boolean(models, "fetch", here)
        spec.user_id_query = r.boolean(models, "userIdQuery", here)
    spec.headers = r.string_map(item, "headers", path)
    spec.add_params = r.mapping(item, "addParams", path) or {}
    spec.drop_params = r.string_list(item, "dropParams", path) or []
    spec.model_display_label = r.string(item, "modelDisplayLabel", path)
    spec.icon_url = r.string(item, "iconURL", path)
    spec.rate_limit = read_rate_limit(r, item, path)
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    spec.extra = _extra(item, CUSTOM_FIELDS)
    return spec if raw_name else None
