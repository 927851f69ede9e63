"""LibreChat's own rules for librechat.yaml (librechat-data-provider's zod ``configSchema``),
for the keys this service carries but does not read into its own fields.

A small declarative copy: each LibreChat key has a :class:`Type`, and :func:`check` reports
every value LibreChat would refuse, with its path and line.  As in zod, a key written without
a value (``iconURL:``) is refused, unknown keys inside an object are dropped silently by
LibreChat (we warn about them), and a ``strict`` object refuses them.

Kept in step with the pinned package by tests/test_librechat_parity.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from endpoints.config.reader import NO_VALUE, Reader, describe
from endpoints.config.yamlfile import YAML11_BOOLEANS, join


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # string boolean number enum list record object value section any
    of: Any = None  # element Type, field dict, or enum values
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    above: float | None = None  # exclusive minimum (zod's positive())
    min_items: int = 0
    strict: bool = False
    required: tuple[str, ...] = ()
    nullable: bool = False
    #: An object whose other keys are ours (a model item): no warning about them.
    quiet: bool = False


STRING = Type("string")
BOOLEAN = Type("boolean")
NUMBER = Type("number")
ANY = Type("any")
#: A section whose contents this service does not use: LibreChat validates them, we only
#: check that it is a mapping (a documented deviation, see the README).
SECTION = Type("section")


def number(*, minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> Type:
    return Type("number", minimum=minimum, maximum=maximum, integer=integer)


def positive(*, integer: bool = False) -> Type:
    return Type("number", above=0, integer=integer)


def enum(*values: str) -> Type:
    return Type("enum", of=values)


def list_of(item: Type, *, min_items: int = 0) -> Type:
    return Type("list", of=item, min_items=min_items)


def record(value: Type) -> Type:
    return Type("record", of=value)


def obj(fields: dict[str, Type], *, required: tuple[str, ...] = (), strict: bool = False, quiet: bool = False) -> Type:
    return Type("object", of=fields, required=required, strict=strict, quiet=quiet)


STRINGS = list_of(STRING)
STRING_MAP = record(STRING)
#: addParams: a mapping of any JSON values (null included); ``web_search`` must be a boolean.
ADD_PARAMS = Type("addParams")


# --- the endpoint schemas -----------------------------------------------------------------------

_TITLE = {
    "titlePrompt": STRING,
    "titleModel": STRING,
    "titleConvo": BOOLEAN,
    "titleMethod": enum("completion", "functions", "structured"),
    "titleEndpoint": STRING,
    "titlePromptTemplate": STRING,
    "titleTiming": enum("immediate", "final"),
}
_LABELS = {
    "activityLabel": BOOLEAN,
    "activityModel": STRING,
    "activityEndpoint": STRING,
    "activityPrompt": STRING,
    "activityMaxPerRun": positive(integer=True),
    "activityCharLimit": positive(integer=True),
    "activityPhaseLabel": BOOLEAN,
    "activityPhaseModel": STRING,
    "activityPhaseEndpoint": STRING,
    "activityPhasePrompt": STRING,
    "activityPhaseMaxPerRun": positive(integer=True),
    "reasoningLabel": BOOLEAN,
    "reasoningLabelModel": STRING,
    "reasoningLabelEndpoint": STRING,
    "reasoningLabelPrompt": STRING,
    "reasoningLabelMinChars": positive(integer=True),
    "reasoningLabelUpdateChars": positive(integer=True),
    "reasoningLabelUpdateIntervalMs": number(minimum=0, integer=True),
    "reasoningLabelMaxPerRun": positive(integer=True),
}
#: baseEndpointSchema: what every endpoint section accepts.
BASE = {
    "streamRate": number(minimum=0),
    "baseURL": STRING,
    "headers": STRING_MAP,
    **_TITLE,
    **_LABELS,
    "maxToolResultChars": positive(),
}
MODEL_ITEM = Type("model")  # a model name, or {name, description}: see check()
MODELS = obj(
    {"default": list_of(MODEL_ITEM, min_items=1), "fetch": BOOLEAN, "userIdQuery": BOOLEAN}, required=("default",)
)
ASSISTANT_CAPABILITIES = ("code_interpreter", "image_vision", "retrieval", "actions", "tools")
AGENT_CAPABILITIES = (
    "hide_sequential_outputs",
    "programmatic_tools",
    "end_after_tools",
    "deferred_tools",
    "execute_code",
    "stateful_code_sessions",
    "file_search",
    "web_search",
    "artifacts",
    "subagents",
    "actions",
    "context",
    "skills",
    "memory",
    "ask_user_question",
    "tools",
    "chain",
    "ocr",
    "run_in_background",
    "tool_intents",
)
ASSISTANTS = {
    **BASE,
    "disableBuilder": BOOLEAN,
    "pollIntervalMs": NUMBER,
    "timeoutMs": NUMBER,
    "version": Type("version"),
    "supportedIds": list_of(STRING, min_items=1),
    "excludedIds": list_of(STRING, min_items=1),
    "privateAssistants": BOOLEAN,
    "retrievalModels": list_of(STRING, min_items=1),
    "capabilities": list_of(enum(*ASSISTANT_CAPABILITIES)),
    "apiKey": STRING,
    "apiKeyPreview": STRING,
    "models": MODELS,
}
VERTEX = obj(
    {
        "enabled": BOOLEAN,
        "projectId": STRING,
        "region": STRING,
        "serviceKeyFile": STRING,
        "deploymentName": STRING,
        "models": Type("vertex-models"),
    }
)
ANTHROPIC = {**BASE, "vertex": VERTEX, "models": STRINGS}
#: agentsEndpointSchema is large; these are the keys it shares with LibreChat's documentation.
#: The rest of the section is LibreChat's business (a documented deviation).
AGENTS = {
    **{key: value for key, value in BASE.items() if key != "baseURL"},
    "recursionLimit": NUMBER,
    "maxRecursionLimit": NUMBER,
    "disableBuilder": BOOLEAN,
    "maxCitations": number(minimum=1, maximum=50),
    "maxCitationsPerFile": number(minimum=1, maximum=10),
    "minRelevanceScore": number(minimum=0, maximum=1),
    "maxSubagents": number(minimum=1, maximum=50, integer=True),
    "allowedProviders": STRINGS,
    "capabilities": list_of(enum(*AGENT_CAPABILITIES)),
}
BEDROCK = {
    **BASE,
    "availableRegions": STRINGS,
    "models": STRINGS,
    "guardrailConfig": obj(
        {
            "guardrailIdentifier": STRING,
            "guardrailVersion": STRING,
            "trace": enum("enabled", "disabled", "enabled_full"),
            "streamProcessingMode": enum("sync", "async"),
        },
        required=("guardrailIdentifier", "guardrailVersion"),
    ),
    "inferenceProfiles": STRING_MAP,
}
#: The azureOpenAI section: groups (read in azure.py) plus the base keys LibreChat picks for it.
AZURE = {
    "assistants": BOOLEAN,
    **{key: BASE[key] for key in ("streamRate", *_TITLE)},
    **_LABELS,
}
AZURE_GROUP = {
    "group": STRING,
    "models": ANY,  # read in azure.py
    "apiKey": STRING,
    "serverless": BOOLEAN,
    "instanceName": STRING,
    "deploymentName": STRING,
    "assistants": BOOLEAN,
    "addParams": ADD_PARAMS,
    "dropParams": STRINGS,
    "version": STRING,
    "baseURL": STRING,
    "additionalHeaders": STRING_MAP,
}
AZURE_MODEL = {"deploymentName": STRING, "version": STRING, "assistants": BOOLEAN}
REASONING_FORMATS = ("disabled", "reasoning_effort", "reasoning_object")
REASONING_KEYS = ("reasoning", "reasoning_content")
SETTING_TYPES = ("number", "boolean", "string", "enum", "array")
COMPONENTS = ("input", "textarea", "slider", "checkbox", "switch", "dropdown", "combobox", "tags")
PARAM_DEFINITION = obj(
    {
        "key": STRING,
        "description": STRING,
        "type": enum(*SETTING_TYPES),
        "default": Type("default"),
        "showLabel": BOOLEAN,
        "showDefault": BOOLEAN,
        "options": STRINGS,
        "range": obj({"min": NUMBER, "max": NUMBER, "step": NUMBER, "positiveMin": NUMBER}, required=("min", "max")),
        "enumMappings": record(Type("scalar")),
        "component": enum(*COMPONENTS),
        "optionType": enum("conversation", "model", "custom"),
        "columnSpan": number(minimum=0, integer=True),
        "columns": number(minimum=1, maximum=4, integer=True),
        "label": STRING,
        "placeholder": STRING,
        "labelCode": BOOLEAN,
        "placeholderCode": BOOLEAN,
        "descriptionCode": BOOLEAN,
        "minText": NUMBER,
        "maxText": NUMBER,
        "minTags": number(minimum=0),
        "maxTags": number(minimum=0),
        "includeInput": BOOLEAN,
        "descriptionSide": enum("top", "right", "bottom", "left"),
        "searchPlaceholder": STRING,
        "selectPlaceholder": STRING,
        "searchPlaceholderCode": BOOLEAN,
        "selectPlaceholderCode": BOOLEAN,
    },
    required=("key",),
)
CUSTOM_PARAMS = obj(
    {
        "defaultParamsEndpoint": STRING,
        "reasoningFormat": enum(*REASONING_FORMATS),
        "reasoningKey": enum(*REASONING_KEYS),
        "includeReasoningContent": BOOLEAN,
        "includeReasoningHistory": BOOLEAN,
        "paramDefinitions": list_of(PARAM_DEFINITION),
    },
    strict=True,
)
TOKEN_CONFIG = record(
    obj(
        {"prompt": NUMBER, "completion": NUMBER, "context": NUMBER, "cacheRead": NUMBER, "cacheWrite": NUMBER},
        required=("prompt", "completion", "context"),
    )
)
#: endpointSchema.partial(): a custom endpoint (its required keys are checked in custom.py).
CUSTOM = {
    **BASE,
    "name": STRING,
    "apiKey": STRING,
    "apiKeyPreview": STRING,
    "baseURL": STRING,
    "models": MODELS,
    "iconURL": STRING,
    "modelDisplayLabel": STRING,
    "provider": enum("anthropic"),
    "headers": STRING_MAP,
    "addParams": ADD_PARAMS,
    "dropParams": STRINGS,
    "customParams": CUSTOM_PARAMS,
    "directEndpoint": BOOLEAN,
    "titleMessageRole": enum("system", "user", "assistant"),
    "tokenConfig": TOKEN_CONFIG,
}

#: configSchema's top level (strict): the sections and their types.
FILE_STORAGE = enum("local", "firebase", "s3", "azure_blob", "cloudfront")
TOP_LEVEL = {
    "version": STRING,
    "permissions": SECTION,
    "cache": BOOLEAN,
    "ocr": SECTION,
    "webSearch": SECTION,
    "langfuse": SECTION,
    "memory": SECTION,
    "summarization": SECTION,
    "skillSync": SECTION,
    "secureImageLinks": BOOLEAN,
    "imageOutputType": enum("png", "webp", "jpeg"),
    "includedTools": STRINGS,
    "filteredTools": STRINGS,
    "mcpServers": SECTION,
    "mcpSettings": SECTION,
    "interface": SECTION,
    "turnstile": SECTION,
    "fileStrategy": FILE_STORAGE,
    "fileStrategies": obj({key: FILE_STORAGE for key in ("default", "avatar", "image", "document", "skills")}),
    "cloudfront": SECTION,
    "actions": SECTION,
    "registration": SECTION,
    "balance": SECTION,  # its contents: balance.py
    "transactions": obj({"enabled": BOOLEAN}),
    "speech": SECTION,
    "rateLimits": SECTION,
    "fileConfig": SECTION,
    "modelSpecs": SECTION,
    "filters": SECTION,
    "messageFilter": SECTION,
    "endpoints": ANY,  # librechat.py
    "openapi": obj({"enabled": BOOLEAN}),
}
ENDPOINT_SECTIONS = (
    "allowedAddresses",
    "all",
    "openAI",
    "google",
    "anthropic",
    "azureOpenAI",
    "azureAssistants",
    "assistants",
    "agents",
    "custom",
    "bedrock",
)


# --- checking -----------------------------------------------------------------------------------


@dataclass
class Checked:
    """What :func:`check_fields` found: the keys LibreChat drops, to warn about or keep."""

    unknown: list[str] = field(default_factory=list)


def check_fields(
    r: Reader,
    data: dict[str, Any],
    fields: dict[str, Type],
    path: str,
    *,
    ours: frozenset[str] = frozenset(),
    warn_unknown: bool = True,
) -> Checked:
    """Check each LibreChat key of an endpoint item; warn about keys neither LibreChat nor we know."""
    found = Checked()
    for key, value in data.items():
        here = join(path, key)
        if key in fields:
            check(r, value, fields[key], here)
        elif key not in ours:
            found.unknown.append(key)
            if warn_unknown:
                r.warn(here, "unknown key; LibreChat ignores it")
    return found


def check(r: Reader, value: Any, t: Type, path: str) -> bool:
    """Report (once, at ``path``) why LibreChat would refuse ``value``; True when it would not."""
    if value is None and not t.nullable and t.kind != "any":
        r.error(path, NO_VALUE)
        return False
    kind = t.kind
    if kind == "any":
        return True
    if kind == "string":
        return _expect(r, isinstance(value, str), value, path, "a string")
    if kind == "boolean":
        if isinstance(value, str) and value in YAML11_BOOLEANS:
            r.error(path, f"write true or false; LibreChat reads {value!r} as text, not a boolean")
            return False
        return _expect(r, isinstance(value, bool), value, path, "true or false")
    if kind == "number":
        return _number(r, value, t, path)
    if kind == "enum":
        if value not in t.of or not isinstance(value, str):
            r.error(path, f"expected one of {', '.join(t.of)}, got {describe(value, r.where.raw.get(path))}")
            return False
        return True
    if kind == "list":
        what = "a list of strings" if t.of is STRING else "a list of model names" if t.of is MODEL_ITEM else "a list"
        if not _expect(r, isinstance(value, list), value, path, what):
            return False
        if len(value) < t.min_items:
            item = "model" if t.of is MODEL_ITEM else "item"
            r.error(path, f"list at least {'one' if t.min_items == 1 else t.min_items} {item}")
            return False
        return all([check(r, item, t.of, join(path, index)) for index, item in enumerate(value)])
    if kind in ("record", "object", "section"):
        if not _expect(r, isinstance(value, dict), value, path, "a mapping"):
            return False
        if kind == "record":
            return all([check(r, item, t.of, join(path, key)) for key, item in value.items()])
        if kind == "object":
            return _object(r, value, t, path)
        return True
    return _special(r, value, t, path)


def _expect(r: Reader, ok: bool, value: Any, path: str, what: str) -> bool:
    if ok:
        return True
    raw = r.where.raw.get(path)
    if what == "a string" and raw is not None and isinstance(value, bool | int | float):
        r.error(path, f"expected a string, but YAML read {raw!r} as {describe(value)}; put it in quotes: '{raw}'")
    elif "name" in what and raw is not None and isinstance(value, bool | int | float):
        r.error(path, f"expected {what}, got {describe(value, raw)}; put it in quotes: '{raw}'")
    else:
        r.error(path, f"expected {what}, got {describe(value, raw)}")
    return False


def _number(r: Reader, value: Any, t: Type, path: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return _expect(r, False, value, path, "a number")
    if t.integer and not float(value).is_integer():
        r.error(path, f"expected a whole number, got {value!r}")
        return False
    if t.minimum is not None and value < t.minimum:
        r.error(path, f"must be at least {t.minimum:g}, got {value!r}")
        return False
    if t.maximum is not None and value > t.maximum:
        r.error(path, f"must be at most {t.maximum:g}, got {value!r}")
        return False
    if t.above is not None and value <= t.above:
        r.error(path, f"must be more than {t.above:g}, got {value!r}")
        return False
    return True


def _object(r: Reader, value: dict[str, Any], t: Type, path: str) -> bool:
    ok = True
    for key in t.required:
        if key not in value:
            r.error(join(path, key), "is required")
            ok = False
    for key, item in value.items():
        if key in t.of:
            ok = check(r, item, t.of[key], join(path, key)) and ok
        elif t.strict:
            r.error(join(path, key), f"unknown key; LibreChat accepts only: {', '.join(t.of)}")
            ok = False
        elif not t.quiet:
            r.warn(join(path, key), "unknown key; LibreChat ignores it")
    return ok


def _special(r: Reader, value: Any, t: Type, path: str) -> bool:
    kind = t.kind
    if kind == "addParams":
        if not _expect(r, isinstance(value, dict), value, path, "a mapping"):
            return False
        if "web_search" in value and not isinstance(value["web_search"], bool):
            r.error(join(path, "web_search"), "`web_search` must be true or false in addParams")
            return False
        return all([_json_value(r, item, join(path, key)) for key, item in value.items()])
    if kind == "scalar":
        return _expect(r, isinstance(value, str | int | float), value, path, "a string, number or boolean")
    if kind == "version":  # assistants' version: a string or a number
        ok = isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool))
        return _expect(r, ok, value, path, "a version such as 2 or 'v2'")
    if kind == "default":  # a parameter's default: number, boolean, string or list of strings
        if isinstance(value, list):
            return all([check(r, item, STRING, join(path, index)) for index, item in enumerate(value)])
        return _expect(r, isinstance(value, str | int | float), value, path, "a number, boolean, text or list")
    if kind == "vertex-models":
        if isinstance(value, list):
            return all([check(r, item, STRING, join(path, index)) for index, item in enumerate(value)])
        if not _expect(r, isinstance(value, dict), value, path, "a list of model names or a mapping"):
            return False
        ok = True
        for key, item in value.items():
            if not isinstance(item, bool):
                ok = check(r, item, obj({"deploymentName": STRING}), join(path, key)) and ok
        return ok
    if kind == "model":
        if isinstance(value, dict):
            return check(r, value, _MODEL_OBJECT, path)
        return _expect(r, isinstance(value, str), value, path, "a model name or {name: …}")
    raise ValueError(f"unknown schema type {kind}")  # pragma: no cover - a typo in the tables


_MODEL_OBJECT = obj({"name": STRING, "description": STRING}, required=("name",), quiet=True)


def _json_value(r: Reader, value: Any, path: str) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all([_json_value(r, item, join(path, index)) for index, item in enumerate(value)])
    if isinstance(value, dict):
        return all([_json_value(r, item, join(path, key)) for key, item in value.items()])
    return _expect(r, False, value, path, "a JSON value")
