"""LibreChat's own rules for librechat.yaml (librechat-data-provider's zod ``configSchema``),
for the keys this service carries but does not read into its own fields.

A declarative copy: each LibreChat key has a :class:`~endpoints.config.types.Type`, and
:func:`check` reports every value LibreChat would refuse, with its path and line (types.py).

Kept in step with the pinned package by tests/test_librechat_parity.py.
"""

from __future__ import annotations

from endpoints.config.types import (
    ANY,
    BOOLEAN,
    MODEL_ITEM,
    NUMBER,
    SECTION,
    STRING,
    STRINGS,
    Type,
    check,
    check_fields,
    enum,
    list_of,
    number,
    obj,
    positive,
    record,
)

__all__ = ["check", "check_fields"]

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
