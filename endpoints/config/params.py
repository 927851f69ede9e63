"""A custom endpoint's ``customParams``: LibreChat's parameter catalogue and its rules.

LibreChat's loader gives every entry of ``customParams.paramDefinitions`` the catalogue's
definition of that key for ``defaultParamsEndpoint`` (``custom`` by default), marks it
``optionType: custom``, then checks and completes it (``validateSettingDefinitions``); a
definition it cannot use stops LibreChat at start-up.  Endpoints named or hosted like
OpenRouter get OpenRouter's parameter set with prompt caching on.  ``/api/endpoints`` sends
the result, which LibreChat's client renders as the parameter panel.

The catalogue (librechat_params.json) is generated from the pinned librechat-data-provider
by tests/librechat/dump_params.js; tests/test_librechat_parity.py checks it is current.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
from pathlib import Path
from typing import Any

from endpoints.models import Wire

log = logging.getLogger(__name__)

CATALOGUE_PATH = Path(__file__).with_name("librechat_params.json")
SETTING_TYPES = ("number", "boolean", "string", "enum", "array")
OPENROUTER = "openrouter"
OPENROUTER_PROMPT_CACHE = {"key": "promptCache", "default": True}


@functools.cache
def catalogue() -> dict[str, dict[str, dict[str, Any]]]:
    """defaultParamsEndpoint -> parameter key -> LibreChat's definition."""
    with open(CATALOGUE_PATH, encoding="utf-8") as fh:
        data: dict[str, dict[str, dict[str, Any]]] = json.load(fh)["endpoints"]
    return data


def is_openrouter(name: str, base_url: str) -> bool:
    return OPENROUTER in name.lower() or OPENROUTER in base_url.lower()


def with_openrouter_preset(params: dict[str, Any] | None, name: str, base_url: str) -> dict[str, Any] | None:
    """The loader's OpenRouter defaults: OpenRouter's parameters and prompt caching on."""
    if not is_openrouter(name, base_url):
        return params
    chosen = (params or {}).get("defaultParamsEndpoint")
    if chosen is not None and chosen not in ("custom", OPENROUTER):
        return params
    params = dict(params or {"defaultParamsEndpoint": "custom"})
    definitions = list(params.get("paramDefinitions") or [])
    if not any(isinstance(d, dict) and d.get("key") == "promptCache" for d in definitions):
        definitions.append(dict(OPENROUTER_PROMPT_CACHE))
    return {**params, "defaultParamsEndpoint": OPENROUTER, "paramDefinitions": definitions}


def resolve(params: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``customParams`` as LibreChat's loader leaves it, and its problems as (sub-path, message).

    ``params`` must already have LibreChat's shape (schema.CUSTOM_PARAMS).
    """
    params = copy.deepcopy(params)
    endpoint = params.get("defaultParamsEndpoint")
    endpoint = "custom" if endpoint is None else endpoint
    params["defaultParamsEndpoint"] = endpoint
    definitions = params.get("paramDefinitions") or []
    params["paramDefinitions"] = definitions
    known = catalogue().get(endpoint)
    if known is None:
        return params, [("defaultParamsEndpoint", f"expected one of {', '.join(catalogue())}, got {endpoint!r}")]
    problems = [
        (f"paramDefinitions[{index}].key", f"{d['key']!r} is not a parameter of {endpoint!r}")
        for index, d in enumerate(definitions)
        if d["key"] not in known
    ]
    if problems:
        return params, problems
    merged = [{**copy.deepcopy(known[d["key"]]), **d, "optionType": "custom"} for d in definitions]
    params["paramDefinitions"] = merged
    return params, [("paramDefinitions", message) for message in complete(merged)]


def _falsy(value: Any) -> bool:
    """JavaScript's ``!value`` (an empty list or mapping is truthy there)."""
    if value is None or value is False or value == "":
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0 or math.isnan(value)
    return False


def _is_nan(value: Any) -> bool:
    """JavaScript's ``isNaN(value)`` for the values YAML gives."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isnan(value)
    if isinstance(value, str):
        try:
            return math.isnan(float(value)) if value.strip() else False
        except ValueError:
            return True
    return not isinstance(value, list) or len(value) > 1


def complete(settings: list[dict[str, Any]]) -> list[str]:
    """LibreChat's validateSettingDefinitions: fill in defaults in place, return every problem."""
    errors: list[str] = []
    columns_seen = set()
    for s in settings:
        if s.get("columns") is not None:
            if not 1 <= s["columns"] <= 4:
                errors.append(f"setting {s.get('key')}: columns must be between 1 and 4")
            else:
                columns_seen.add(s["columns"])
    columns = next(iter(columns_seen)) if len(columns_seen) == 1 else 2
    for s in settings:
        errors.extend(_complete_one(s, columns))
    return errors


def _complete_one(s: dict[str, Any], columns: int) -> list[str]:
    key, kind, component = s.get("key"), s.get("type"), s.get("component")
    errors = [f"setting {key}: {field} is required" for field in ("key", "type", "component") if s.get(field) is None]
    if kind not in SETTING_TYPES:
        errors.append(f"setting {key}: type must be one of {', '.join(SETTING_TYPES)}")
    if (component == "tags") != (kind == "array"):
        errors.append(f"setting {key}: a tags component needs type array, and type array a tags component")
    complete = _BY_COMPONENT.get(component) if isinstance(component, str) else None
    if complete is not None:
        errors.extend(complete(s, key, kind))
    if _falsy(s.get("columnSpan")):
        s["columnSpan"] = columns // 2
    if _falsy(s.get("label")):
        s["label"] = key
    if component in ("input", "textarea"):
        for bound in ("minText", "maxText"):
            if s.get(bound) is not None and s[bound] < 0:
                errors.append(f"setting {key}: {bound} must not be negative")
    errors.extend(_check_default(s, key, kind))
    return errors


def _tags(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    errors = []
    for bound in ("minTags", "maxTags"):
        if s.get(bound) is not None and s[bound] < 0:
            errors.append(f"setting {key}: {bound} must not be negative")
    default = s.get("default")
    if not _falsy(default) and not isinstance(default, list):
        errors.append(f"setting {key}: the default must be a list")
    elif isinstance(default, list):
        if s.get("maxTags") and len(default) > s["maxTags"]:
            errors.append(f"setting {key}: the default has more than maxTags tags")
        if s.get("minTags") and len(default) < s["minTags"]:
            errors.append(f"setting {key}: the default has fewer than minTags tags")
    if _falsy(default):
        s["default"] = []
    return errors


def _text(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    errors = []
    if kind == "number" and s.get("component") == "textarea":
        errors.append(f"setting {key}: a textarea needs type string")
    if s.get("minText") is not None and s.get("maxText") is not None and s["minText"] > s["maxText"]:
        errors.append(f"setting {key}: minText cannot be greater than maxText")
    if _falsy(s.get("placeholder")):
        s["placeholder"] = ""
    return errors


def _slider(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    errors = []
    options = s.get("options")
    if kind == "number" and not s.get("range"):
        errors.append(f"setting {key}: a slider of numbers needs a range")
    if kind == "enum" and (not options or len(options) < 2):
        errors.append(f"setting {key}: a slider of choices needs at least 2 options")
    include = s.get("includeInput")
    s["includeInput"] = (True if include is None else include) if kind == "number" else False
    if kind == "number" and "default" not in s and s.get("range"):
        low = max(s["range"]["min"], s["range"].get("positiveMin", s["range"]["min"]))
        s["default"] = math.floor((low + s["range"]["max"]) / 2 + 0.5)
    return errors


def _toggle(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    options = s.get("options")
    errors = [f"setting {key}: a checkbox or switch has 1 or 2 options"] if options and len(options) > 2 else []
    if _falsy(s.get("default")) and kind == "boolean":
        s["default"] = False
    return errors


def _choices(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    options = s.get("options")
    errors = (
        [f"setting {key}: a {s.get('component')} needs at least 2 options"] if not options or len(options) < 2 else []
    )
    if _falsy(s.get("default")) and options:
        s["default"] = options[0]
    return errors


#: What completing a setting checks and fills in, per component (LibreChat's generateDynamicSchema).
_BY_COMPONENT = {"tags": _tags, "input": _text, "textarea": _text, "slider": _slider, "checkbox": _toggle,
                 "switch": _toggle, "dropdown": _choices, "combobox": _choices}  # fmt: skip


def _check_default(s: dict[str, Any], key: Any, kind: Any) -> list[str]:
    errors = []
    default, rng, options = s.get("default"), s.get("range"), s.get("options")
    if kind == "number" and default is not None and _is_nan(default):
        errors.append(f"setting {key}: the default must be a number")
    if kind == "boolean" and default is not None and not isinstance(default, bool):
        errors.append(f"setting {key}: the default must be true or false")
    if kind in ("string", "enum") and default is not None and not isinstance(default, str):
        errors.append(f"setting {key}: the default must be text")
    if kind == "enum" and options and default not in options:
        errors.append(f"setting {key}: the default must be one of {', '.join(map(str, options))}")
    is_number = isinstance(default, int | float) and not isinstance(default, bool)
    if kind == "number" and rng and is_number and not rng["min"] <= default <= rng["max"]:
        errors.append(f"setting {key}: the default must be within [{rng['min']}, {rng['max']}]")
    if kind == "number" and rng and rng.get("positiveMin") is not None:
        if rng["positiveMin"] > rng["max"]:
            errors.append(f"setting {key}: range.positiveMin cannot exceed range.max")
        if is_number and default != rng["min"] and default < rng["positiveMin"]:
            errors.append(f"setting {key}: the default must be {rng['min']} or at least {rng['positiveMin']}")
    mappings = s.get("enumMappings")
    if mappings and kind == "enum" and options:
        errors.extend(f"setting {key}: enumMappings has no entry for {o!r}" for o in options if o not in mappings)
    return errors


def custom_params(name: str, base_url: str, wire: str, extra: dict[str, Any]) -> dict[str, Any] | None:
    """A custom endpoint's ``customParams`` as LibreChat's loader and endpoints config leave it."""
    given = extra.get("customParams")
    try:
        resolved = with_openrouter_preset(given if isinstance(given, dict) else None, name, base_url)
        if resolved is not None:
            resolved, problems = resolve(resolved)
            if problems:  # only possible after an admin edit: the seed refuses them
                log.warning("customParams of %s ignored: %s", name, "; ".join(m for _, m in problems))
                resolved = None
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("customParams of %s ignored: not in LibreChat's shape", name)
        resolved = None
    if wire == Wire.ANTHROPIC and (resolved is None or resolved.get("defaultParamsEndpoint") in (None, "custom")):
        resolved = {**(resolved or {}), "defaultParamsEndpoint": "anthropic"}
    return resolved
