"""Anthropic's Messages API at the gateway, described by hand (``endpoints.gateway.messages``):
``POST /v1/messages``, ``POST /v1/messages/count_tokens``, and the Anthropic shape of
``GET /v1/models`` (asked with ``anthropic-version``).  The Schemathesis run keeps it true."""

from __future__ import annotations

from typing import Any

from core.openapi.errors import ERRORS, REF, kinds_for

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BLOCKS = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "object", "required": ["type"], "properties": {"type": STRING}},
    "description": "text, image (base64 or url source), tool_use (assistant) and tool_result (user) blocks; "
    "thinking blocks of earlier turns are dropped; documents, files and server tools are refused.",
}
MESSAGE_PARAM = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {"role": {"enum": ["user", "assistant"]}, "content": {"oneOf": [STRING, BLOCKS]}},
}
STOP_REASON = {"enum": ["end_turn", "max_tokens", "tool_use", "refusal"]}
USAGE = {"type": "object", "required": ["input_tokens", "output_tokens"],
         "properties": {"input_tokens": INTEGER, "output_tokens": INTEGER}}  # fmt: skip
CONTENT_BLOCK = {
    "oneOf": [
        {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": STRING}},
        {"type": "object", "required": ["type", "id", "name", "input"], "properties": {
            "type": {"const": "tool_use"}, "id": STRING, "name": STRING, "input": {"type": "object"}}},
    ]
}  # fmt: skip


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or null (which the parser reads as "not given")."""
    return {"anyOf": [schema, {"type": "null"}]}


def _request(required: list[str]) -> dict[str, Any]:
    schema = _request_fields(required)
    optional = set(schema["properties"]) - {"model", "messages", *required}
    schema["properties"] = {k: _nullable(v) if k in optional else v for k, v in schema["properties"].items()}
    return schema


def _request_fields(required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": {
            "model": {"type": "string", "minLength": 1,
                      "description": '"<endpoint>/<model id>", or a bare id offered by one endpoint only.'},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            "messages": {"type": "array", "minItems": 1, "items": MESSAGE_PARAM},
            "system": {"oneOf": [STRING, {"type": "array", "items": {"type": "object", "required": ["type", "text"],
                                          "properties": {"type": {"const": "text"}, "text": STRING}}}]},
            "stream": {"type": "boolean", "default": False},
            "stop_sequences": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "tools": {"type": "array", "items": {"type": "object", "required": ["name", "input_schema"],
                      "properties": {"name": {"type": "string", "minLength": 1}, "description": STRING,
                                     "input_schema": {"type": "object"}}}},
            "tool_choice": {"type": "object", "required": ["type"], "properties": {
                "type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": ["string", "null"]},
                "disable_parallel_tool_use": {"type": ["boolean", "null"]}}},
            "metadata": {"type": "object", "properties": {"user_id": {"type": ["string", "null"], "description":
                         "A service token's end user, when no X-End-User-* header names one."}}},
        },
        "description": "Other keys (top_k, thinking, service_tier …) are accepted and not sent on.",
    }  # fmt: skip


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    payload = {"type": "object", "required": ["type", *data.get("required", [])],
               "properties": {"type": {"const": name}, **data.get("properties", {})}}  # fmt: skip
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": payload}}}  # fmt: skip


INDEX = {"index": INTEGER}
SCHEMAS: dict[str, Any] = {
    "AnthropicError": {
        "type": "object",
        "description": "Anthropic's error body; `error.details.error_code` is the contract's error type, with its "
        "context (`limit`, `scope`, `errors` …).",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "required": ["type", "message", "details"],
                "properties": {
                    "type": {
                        "enum": [
                            "invalid_request_error",
                            "authentication_error",
                            "billing_error",
                            "permission_error",
                            "not_found_error",
                            "request_too_large",
                            "rate_limit_error",
                            "api_error",
                            "timeout_error",
                            "overloaded_error",
                        ]
                    },
                    "message": STRING,
                    "details": {
                        "type": "object",
                        "required": ["error_code"],
                        "properties": {"error_code": {"enum": sorted(ERRORS)}},
                        "additionalProperties": True,
                    },
                },
            },
            "request_id": {"type": ["string", "null"]},
        },
    },
    "AnthropicMessagesRequest": _request(["model", "max_tokens", "messages"]),
    "AnthropicCountTokensRequest": _request(["model", "messages"]),
    "AnthropicMessage": {
        "type": "object",
        "required": ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"],
        "properties": {
            "id": STRING,
            "type": {"const": "message"},
            "role": {"const": "assistant"},
            "model": {"type": "string", "description": '"<endpoint>/<model id>" that answered.'},
            "content": {"type": "array", "items": CONTENT_BLOCK},
            "stop_reason": STOP_REASON,
            "stop_sequence": {"type": "null"},
            "usage": USAGE,
        },
    },
    "AnthropicMessageStreamItem": {
        "description": "Server-sent events, as Anthropic sends them: `message_start` (usage: the prompt's estimate), "
        "`ping`, per content block `content_block_start` / `content_block_delta` / `content_block_stop`, then "
        "`message_delta` (stop reason, usage) and `message_stop`; or an `error` event, after which the stream ends.",
        "oneOf": [
            _event("message_start", {"required": ["message"], "properties": {"message": {"type": "object"}}}),
            _event("ping", {}),
            _event(
                "content_block_start",
                {"required": ["index", "content_block"], "properties": {**INDEX, "content_block": {"type": "object"}}},
            ),
            _event(
                "content_block_delta",
                {"required": ["index", "delta"], "properties": {**INDEX, "delta": {"type": "object"}}},
            ),
            _event("content_block_stop", {"required": ["index"], "properties": INDEX}),
            _event(
                "message_delta",
                {
                    "required": ["delta", "usage"],
                    "properties": {
                        "delta": {"type": "object", "properties": {"stop_reason": STOP_REASON}},
                        "usage": USAGE,
                    },
                },
            ),
            _event("message_stop", {}),
            _event("error", {"required": ["error"], "properties": {"error": {"type": "object"}}}),
        ],
    },
    "AnthropicTokenCount": {"type": "object", "required": ["input_tokens"], "properties": {"input_tokens": INTEGER}},
    "AnthropicModel": {
        "type": "object",
        "required": ["type", "id", "display_name", "created_at"],
        "properties": {
            "type": {"const": "model"},
            "id": STRING,
            "display_name": STRING,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "AnthropicModelList": {
        "type": "object",
        "required": ["data", "has_more", "first_id", "last_id"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": REF + "AnthropicModel"}},
            "has_more": {"type": "boolean"},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
        },
    },
}

CHAT_ERRORS = (400, 401, 402, 403, 404, 405, 413, 429, 500, 502, 503, 504)
#: Not declared as parameters: their values change nothing a schema could say, and Schemathesis would send
#: "invalid" ones that are rightly accepted.
HEADERS_NOTE = ("`anthropic-version` is accepted (any value); the token may be sent as `x-api-key` or "
                "`Authorization: Bearer`.")  # fmt: skip


def anthropic_errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "; ".join(f"`{k}`: {ERRORS[k][1]}" for k in kinds_for(status)) or "An error.",
            "content": {"application/json": {"schema": {"$ref": REF + "AnthropicError"}}},
        }
        for status in statuses
    }


def either(openai: str, anthropic: str) -> dict[str, Any]:
    """A body in OpenAI's shape, or Anthropic's for a request with ``anthropic-version``."""
    return {"application/json": {"schema": {"anyOf": [{"$ref": REF + openai}, {"$ref": REF + anthropic}]}}}


def either_errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"description": "; ".join(f"`{k}`: {ERRORS[k][1]}" for k in kinds_for(status)),
                          "content": either("OpenAIError", "AnthropicError")} for status in statuses}  # fmt: skip


def paths() -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"tokenAuth": []}]
    tags = ["Anthropic-compatible gateway"]
    hello = {"role": "user", "content": "Hello!"}
    return {
        "/v1/messages": {"post": {
            "operationId": "anthropic_messages",
            "tags": tags,
            "summary": "Anthropic's Messages API for any configured endpoint; the official SDKs work unchanged",
            "description": "Runs through the limits, budgets and fallbacks; every request is recorded in usage. "
            + HEADERS_NOTE,
            "security": security,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF + "AnthropicMessagesRequest"},
                "examples": {
                    "message": {"summary": "One message", "value": {
                        "model": "openAI/gpt-4o-mini", "max_tokens": 200, "messages": [hello]}},
                    "stream": {"summary": "Streamed events", "value": {
                        "model": "openAI/gpt-4o-mini", "max_tokens": 200, "messages": [hello], "stream": True}},
                },
            }}},
            "responses": {
                "200": {"description": "A `message`, or with `stream: true` its server-sent events.", "content": {
                    "application/json": {"schema": {"$ref": REF + "AnthropicMessage"}},
                    "text/event-stream": {"schema": {"$ref": REF + "AnthropicMessageStreamItem"}}}},
                **anthropic_errors(*CHAT_ERRORS),
            },
        }},
        "/v1/messages/count_tokens": {"post": {
            "operationId": "anthropic_count_tokens",
            "tags": tags,
            "summary": "The prompt's tokens: the upstream's own count where its API has a counter (Anthropic, "
                       "Gemini), else an estimate; the `x-token-count` header says which",
            "description": HEADERS_NOTE,
            "security": security,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF + "AnthropicCountTokensRequest"},
                "example": {"model": "openAI/gpt-4o-mini", "messages": [hello]}}}},
            "responses": {
                "200": {"description": "The count.", "headers": {"x-token-count": {
                    "description": "`upstream`: the upstream's counter answered; `estimated`: counted here.",
                    "schema": {"type": "string", "enum": ["upstream", "estimated"]}}}, "content": {
                    "application/json": {"schema": {"$ref": REF + "AnthropicTokenCount"}}}},
                **anthropic_errors(400, 401, 403, 404, 405, 413, 500, 503),
            },
        }},
    }  # fmt: skip
