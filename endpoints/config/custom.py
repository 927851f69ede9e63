"""``endpoints.custom``: OpenAI-compatible (or ``provider: anthropic``) endpoints.

LibreChat's schema makes every key of an item optional and then drops, without a word, an
endpoint that lacks ``name``, ``apiKey``, ``baseURL`` or ``models``; we refuse such a file
instead (a documented deviation).  Names are normalised as LibreChat does (any spelling of
``ollama``); when two items end up with one name LibreChat keeps the last definition, and so
do we, with a warning.
"""

from __future__ import annotations

from typing import Any

from endpoints.config import params, schema
from endpoints.config.interpolate import secrets_for_any_url
from endpoints.config.items import (
    EXTENSION_KEYS,
    MAX_ENDPOINT_NAME,
    check_url,
    read_fallbacks,
    read_model_list,
    read_rate_limit,
)
from endpoints.config.reader import Reader
from endpoints.config.routing import read_routing
from endpoints.config.specs import EndpointSpec
from endpoints.config.yamlfile import join
from endpoints.models import EndpointKind, Source, Wire

#: Keys of a custom endpoint item read into fields (the rest go to ``extra``, for export).
CUSTOM_FIELDS = frozenset(
    {
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
        "routing",
    }
)
#: LibreChat's EModelEndpoint values, which a custom endpoint may not be named.
RESERVED_NAMES = frozenset(
    {"azureOpenAI", "openAI", "google", "anthropic", "assistants", "azureAssistants", "agents", "custom", "bedrock"}
)


def normalize_name(name: str) -> str:
    """LibreChat's normalizeEndpointName: any spelling of "ollama" becomes "ollama"."""
    return "ollama" if name.lower() == "ollama" else name


def read_customs(r: Reader, items: Any) -> list[EndpointSpec]:
    if items is None:
        return []
    if not isinstance(items, list):
        r.error("endpoints.custom", "expected a list of endpoints")
        return []
    specs: dict[str, EndpointSpec] = {}
    where: dict[str, str] = {}
    for index, item in enumerate(items):
        path = join("endpoints.custom", index)
        if not isinstance(item, dict):
            r.error(path, "expected a mapping with name, apiKey, baseURL and models")
            continue
        spec = _custom(r, item, path, index)
        if spec is None:
            continue
        if spec.name in specs:
            r.warn(
                join(path, "name"),
                f"{spec.name!r} is also the name of {where[spec.name]}; LibreChat keeps the last definition, as we do",
            )
            spec.position = specs[spec.name].position  # it takes the first one's place, as in LibreChat's list
        where[spec.name] = path
        specs[spec.name] = spec
    return list(specs.values())


def _custom(r: Reader, item: dict[str, Any], path: str, index: int) -> EndpointSpec | None:
    schema.check_fields(r, item, schema.CUSTOM, path, ours=EXTENSION_KEYS)
    raw_name = r.string(item, "name", path, required=True)
    name = normalize_name(raw_name)
    if raw_name in RESERVED_NAMES:
        r.error(join(path, "name"), f"{raw_name!r} is a built-in endpoint name; give the custom endpoint another name")
    elif name != name.strip():
        r.warn(join(path, "name"), f"{name!r} begins or ends with spaces, which are part of the name")
    if len(name) > MAX_ENDPOINT_NAME:
        r.error(join(path, "name"), f"an endpoint name must be at most {MAX_ENDPOINT_NAME} characters")
    spec = EndpointSpec(name=name, kind=EndpointKind.CUSTOM, source=Source.YAML, position=index)
    spec.api_key = r.string(item, "apiKey", path, required=True)
    spec.base_url = r.string(item, "baseURL", path, required=True).strip()
    check_url(r, spec.base_url, join(path, "baseURL"))
    spec.wire = Wire.ANTHROPIC if item.get("provider") == Wire.ANTHROPIC else Wire.OPENAI
    models = r.mapping(item, "models", path, required=True)
    if models is not None:
        here = join(path, "models")
        spec.models = read_model_list(r, models.get("default"), join(here, "default"), required=True)
        spec.models_fetch = r.boolean(models, "fetch", here)
        spec.user_id_query = r.boolean(models, "userIdQuery", here)
    spec.headers = r.string_map(item, "headers", path)
    _check_secrets(r, spec, path)
    spec.add_params = dict(item["addParams"]) if isinstance(item.get("addParams"), dict) else {}
    spec.drop_params = r.string_list(item, "dropParams", path) or []
    spec.model_display_label = r.string(item, "modelDisplayLabel", path)
    spec.icon_url = r.string(item, "iconURL", path)
    spec.rate_limit = read_rate_limit(r, item, path)
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    spec.routing = read_routing(r, item, path)
    spec.extra = {key: value for key, value in item.items() if key not in CUSTOM_FIELDS}
    _check_custom_params(r, item, spec, path)
    return spec if raw_name else None


def _check_secrets(r: Reader, spec: EndpointSpec, path: str) -> None:
    """The server's key and variables go only where the configuration says, never where a user says."""
    r.references(spec.api_key, join(path, "apiKey"))
    r.references(spec.base_url, join(path, "baseURL"))
    for name, value in spec.headers.items():
        r.references(value, join(join(path, "headers"), name))
    leak = secrets_for_any_url(spec.api_key, spec.base_url, spec.headers)
    if leak:
        r.error(join(path, "baseURL"), leak)


def _check_custom_params(r: Reader, item: dict[str, Any], spec: EndpointSpec, path: str) -> None:
    """What LibreChat's loader does to ``customParams`` at start-up, and its refusals."""
    here = join(path, "customParams")
    if r.failed(here) or r.failed(join(path, "name")) or r.failed(join(path, "baseURL")):
        return
    given = item.get("customParams")
    preset = params.with_openrouter_preset(given, spec.name, spec.base_url)
    if preset is None:
        return
    _, problems = params.resolve(preset)
    for sub_path, message in problems:
        r.error(join(here, sub_path) if given is not None else here, message)
