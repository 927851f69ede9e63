"""Response schemas of the read API (CONTRACT §3) and of ``/api/assistants``: those views write
JSON themselves (rendered once, served from a memo), so their shapes are stated here."""

from __future__ import annotations

from typing import Any

NULLABLE_NUMBER = {"type": ["number", "null"]}

ENDPOINT_CONFIG: dict[str, Any] = {
    "type": "object",
    "description": "LibreChat's TConfig of one endpoint, plus the models this user may use.",
    "required": ["userProvide", "order", "models"],
    "properties": {
        "type": {"const": "custom"},
        "userProvide": {"type": "boolean", "description": "Each user enters their own key (/keys/)."},
        "userProvideURL": {"type": "boolean"},
        "order": {"type": "integer"},
        "modelDisplayLabel": {"type": ["string", "null"]},
        "iconURL": {"type": ["string", "null"]},
        "capabilities": {"type": "array", "items": {"type": "string"}},
        "retrievalModels": {"type": "array", "items": {"type": "string"}},
        "version": {"type": ["string", "integer"]},
        "disableBuilder": {"type": "boolean"},
        "models": {"type": "array", "items": {"type": "string"}},
    },
}
ENDPOINTS = {"type": "object", "additionalProperties": ENDPOINT_CONFIG, "description": "Keyed by endpoint name."}
MODELS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
PRICE = {
    "type": "object",
    "required": ["prompt", "completion", "cached", "unit", "source"],
    "properties": {
        "prompt": NULLABLE_NUMBER, "completion": NULLABLE_NUMBER, "cached": NULLABLE_NUMBER,
        "unit": {"const": "USD per 1M tokens"}, "source": {"type": "string"},
        "tiers": {"type": "array", "items": {"type": "object", "properties": {
            "above_prompt_tokens": {"type": "integer"}, "prompt": {"type": "number"},
            "completion": {"type": "number"}, "cached": {"type": "number"}}}},
    },
}  # fmt: skip
MODEL_DETAIL = {
    "type": "object",
    "required": ["id", "label", "context_window", "max_output_tokens", "capabilities", "pricing", "fallbacks"],
    "properties": {
        "id": {"type": "string"},
        "label": {"type": "string"},
        "context_window": {"type": ["integer", "null"]},
        "max_output_tokens": {"type": ["integer", "null"]},
        "capabilities": {"type": "object", "required": ["vision", "tools", "streaming"], "properties": {
            "vision": {"type": "boolean"}, "tools": {"type": "boolean"}, "streaming": {"type": "boolean"}}},
        "pricing": PRICE,
        "fallbacks": {"type": "array", "items": {"type": "string"}, "description": '"endpoint/model", in order'},
    },
}  # fmt: skip
MODEL_DETAILS = {"type": "object", "additionalProperties": {"type": "array", "items": MODEL_DETAIL}}
ASSISTANTS = {
    "type": "object",
    "description": "OpenAI's list shape, as LibreChat answers it.",
    "required": ["object", "data", "first_id", "last_id", "has_more"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "model": {"type": "string"}}}},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
        "has_more": {"type": "boolean"},
    },
}  # fmt: skip
KEY_STATUS = {
    "type": "object",
    "required": ["expiresAt"],
    "properties": {"expiresAt": {"type": ["string", "null"], "description": 'An ISO date, "never", or null (no key).'}},
}
