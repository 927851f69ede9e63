"""The built-in endpoint sections: ``openAI``, ``google``, ``anthropic``, ``assistants`` and
``azureAssistants`` (``azureOpenAI`` is in azure.py, ``custom`` in custom.py).

Each is checked against LibreChat's schema first (schema.py), then read into a spec.
``models`` is ours in ``openAI``/``google`` (LibreChat drops it there), LibreChat's list of
model names in ``anthropic``, and LibreChat's ``{default, fetch}`` in the assistants sections.
"""

from __future__ import annotations

from typing import Any

from endpoints.config import schema
from endpoints.config.items import EXTENSION_KEYS, check_url, read_fallbacks, read_model_list, read_rate_limit
from endpoints.config.reader import Reader
from endpoints.config.routing import read_routing
from endpoints.config.specs import EndpointSpec, ModelSpec
from endpoints.config.yamlfile import join
from endpoints.models import Source

#: Keys of a built-in section read into fields (the rest go to ``extra``, for export).
BUILTIN_FIELDS = frozenset(
    {"headers", "baseURL", "rateLimit", "fallbacks", "routing", "models", "addParams", "dropParams"}
)
#: (``disableBuilder`` stays in ``extra`` too: LibreChat sends it only when the yaml has it.)
ASSISTANTS_FIELDS = BUILTIN_FIELDS | {
    "pollIntervalMs",
    "timeoutMs",
    "version",
    "supportedIds",
    "excludedIds",
    "privateAssistants",
    "retrievalModels",
    "capabilities",
}
#: The version a section has when it names none: LibreChat's schema default for assistants,
#: azureAssistantsDefaults()'s for azureAssistants (the Azure API this service calls is v1).
#: A stored version also marks "the yaml has this section", which /api/endpoints follows.
SECTION_VERSION = {"assistants": "2", "azureAssistants": "1"}


def read_builtin(r: Reader, name: str, item: dict[str, Any], path: str) -> EndpointSpec:
    fields = schema.ANTHROPIC if name == "anthropic" else schema.BASE
    if name == "anthropic" and isinstance(item.get("models"), dict):
        r.error(
            join(path, "models"),
            "LibreChat reads anthropic.models as a list of model names (models: ['claude-…']); "
            "set per-model settings for anthropic in admin",
        )
    ours = EXTENSION_KEYS | {"addParams", "dropParams"} | ({"models"} if name != "anthropic" else set())
    schema.check_fields(r, item, fields, path, ours=frozenset(ours))
    return _common(r, name, item, path, BUILTIN_FIELDS)


def _common(r: Reader, name: str, item: dict[str, Any], path: str, known: frozenset[str]) -> EndpointSpec:
    spec = EndpointSpec(name=name, kind=name, source=Source.YAML)
    spec.headers = r.string_map(item, "headers", path)
    spec.base_url = r.string(item, "baseURL", path)
    check_url(r, spec.base_url, join(path, "baseURL"))
    r.references(spec.base_url, join(path, "baseURL"))
    for header, value in spec.headers.items():
        r.references(value, join(join(path, "headers"), header))
    spec.add_params = r.mapping(item, "addParams", path, nullable=True) or {}
    spec.drop_params = r.string_list(item, "dropParams", path, nullable=True) or []
    spec.rate_limit = read_rate_limit(r, item, path)
    spec.fallbacks, spec.fallback_where = read_fallbacks(r, item, path)
    spec.routing = read_routing(r, item, path)
    spec.models = _models(r, name, item.get("models"), join(path, "models"))
    spec.extra = {key: value for key, value in item.items() if key not in known}
    return spec


def _models(r: Reader, name: str, models: Any, path: str) -> list[ModelSpec]:
    if models is None or r.failed(path):
        return []
    if isinstance(models, list):  # anthropic's form (and accepted in openAI/google too)
        return read_model_list(r, models, path, required=False)
    if not isinstance(models, dict):
        r.error(path, "expected a list of model names or a mapping with `default:`")
        return []
    required = name in ("assistants", "azureAssistants")
    if required or "default" in models:
        return read_model_list(r, models.get("default"), join(path, "default"), required=required)
    return []


def read_assistants(r: Reader, name: str, item: dict[str, Any], path: str) -> EndpointSpec:
    schema.check_fields(r, item, schema.ASSISTANTS, path, ours=EXTENSION_KEYS | {"addParams", "dropParams"})
    spec = _common(r, name, item, path, ASSISTANTS_FIELDS)
    spec.disable_builder = r.boolean(item, "disableBuilder", path)
    spec.private_assistants = r.boolean(item, "privateAssistants", path)
    spec.poll_interval_ms = r.integer(item, "pollIntervalMs", path, minimum=1)
    spec.timeout_ms = r.integer(item, "timeoutMs", path, minimum=1)
    version = item.get("version")
    if isinstance(version, str):
        spec.version = version
    elif isinstance(version, int | float) and not isinstance(version, bool):
        spec.version = str(int(version)) if float(version).is_integer() else str(version)  # JavaScript's String()
    else:
        spec.version = SECTION_VERSION[name]
    spec.supported_ids = r.string_list(item, "supportedIds", path, min_items=1)
    spec.excluded_ids = r.string_list(item, "excludedIds", path, min_items=1)
    if spec.supported_ids and spec.excluded_ids:
        r.warn(
            join(path, "excludedIds"), "supportedIds is set too; LibreChat uses supportedIds and ignores excludedIds"
        )
        spec.excluded_ids = None
    if spec.private_assistants and (spec.supported_ids or spec.excluded_ids):
        r.warn(
            join(path, "privateAssistants"),
            "privateAssistants is true; LibreChat ignores supportedIds and excludedIds then, as we do",
        )
        spec.supported_ids = spec.excluded_ids = None
    spec.retrieval_models = r.string_list(item, "retrievalModels", path, min_items=1)
    spec.capabilities = r.string_list(item, "capabilities", path)
    return spec
