"""librechat.yaml -> validated endpoint specs, following LibreChat's rules.

A file is accepted here when LibreChat accepts it (its zod ``configSchema`` and its start-up
checks, see schema.py), with the deviations the README lists: we also refuse what LibreChat
would silently drop or could not use, and we check our extension keys.  Top-level keys and
``endpoints`` sections must be LibreChat's (its schema is strict there); unknown keys inside
an endpoint item are kept in ``extra`` for export, with a warning, as LibreChat drops them.
Every problem is collected before the file is refused, each named by its path and line.
"""

from __future__ import annotations

from typing import Any

from endpoints.config import schema
from endpoints.config.azure import read_azure
from endpoints.config.custom import normalize_name, read_customs
from endpoints.config.reader import NO_VALUE, Reader
from endpoints.config.sections import read_assistants, read_builtin
from endpoints.config.specs import ConfigSpec, EndpointSpec
from endpoints.config.yamlfile import ConfigError, Located, Problem, join
from endpoints.models import EndpointKind

__all__ = ["normalize_name", "parse"]

#: LibreChat's top-level configuration keys (configSchema, librechat-data-provider 0.8.5xx).
TOP_LEVEL_KEYS = frozenset(schema.TOP_LEVEL)
ENDPOINT_SECTIONS = frozenset(schema.ENDPOINT_SECTIONS)


def parse(data: Any, where: Located) -> ConfigSpec:
    """Validate a parsed librechat.yaml; raise ConfigError listing every problem."""
    r = Reader(where)
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the file must be a YAML mapping with at least `version:`")])
    for key, value in data.items():
        if key not in TOP_LEVEL_KEYS:
            r.error(key, f"unknown key; LibreChat's top-level keys are: {', '.join(sorted(TOP_LEVEL_KEYS))}")
        elif value is None:
            r.error(key, NO_VALUE)
        else:
            schema.check(r, value, schema.TOP_LEVEL[key], key)
    version = r.string(data, "version", "")
    if "version" not in data:
        r.error("version", "is required")
    specs = _endpoints(r, data.get("endpoints")) if "endpoints" in data else []
    balance = data.get("balance") if isinstance(data.get("balance"), dict) else None
    if balance is not None:
        from endpoints.config.balance import FIELDS, problems

        for problem in problems(balance):
            r.error(problem.path, problem.message)
        for key in balance:
            if key not in FIELDS:
                r.warn(join("balance", key), "not a balance setting this service uses; ignored")
    if r.problems:
        raise ConfigError(r.problems)
    return ConfigSpec(version=version, endpoints=specs, balance=balance, warnings=r.warnings)


def _endpoints(r: Reader, section: Any) -> list[EndpointSpec]:
    if not isinstance(section, dict):
        if section is not None:
            r.error("endpoints", "expected a mapping of endpoint sections")
        return []
    if not section:
        r.error("endpoints", "list at least one endpoint section (LibreChat refuses an empty `endpoints:`)")
    items: dict[str, dict[str, Any]] = {}
    for key, value in section.items():
        path = join("endpoints", key)
        if key not in ENDPOINT_SECTIONS:
            r.error(path, f"unknown endpoint section; LibreChat's are: {', '.join(schema.ENDPOINT_SECTIONS)}")
        elif value is None:
            r.error(path, NO_VALUE)
        elif key == "custom":
            continue
        elif key == "allowedAddresses":
            schema.check(r, value, schema.STRINGS, path)
        elif schema.check(r, value, schema.SECTION, path):
            items[key] = value
    for key, fields in (("all", schema.BASE), ("agents", schema.AGENTS), ("bedrock", schema.BEDROCK)):
        if key in items:
            fields = {k: v for k, v in fields.items() if not (key == "all" and k == "baseURL")}
            schema.check_fields(r, items[key], fields, join("endpoints", key), warn_unknown=key != "agents")
    builtins = [name for name in ("openAI", "anthropic", "google") if name in items]
    specs = [read_builtin(r, name, items[name], join("endpoints", name)) for name in builtins]
    sections: dict[str, EndpointSpec] = {
        name: read_assistants(r, name, items[name], join("endpoints", name))
        for name in ("assistants", "azureAssistants")
        if name in items
    }
    if "azureOpenAI" in items:
        for spec in read_azure(r, items["azureOpenAI"], "endpoints.azureOpenAI"):
            settings = sections.pop(spec.name, None) if spec.kind == EndpointKind.AZURE_ASSISTANTS else None
            if settings is not None:
                # endpoints.azureAssistants holds the settings; the models come from the groups.
                settings.models = spec.models
                spec = settings
            specs.append(spec)
    specs.extend(sections.values())
    specs.extend(read_customs(r, section.get("custom")))
    return specs
