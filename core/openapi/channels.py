"""The routes served by channels consumers, described by hand: DRF cannot introspect them.

``POST /api/chat`` (``endpoints.transports.http``) and ``GET /v1/models``,
``GET /v1/models/{model}``, ``POST /v1/chat/completions`` (``endpoints.gateway``).  The
Schemathesis run of the test suite (tests/test_api_schema.py) calls them from this
description, so it stays true: a response that does not match it fails the tests.
"""

from __future__ import annotations

from typing import Any

from core.openapi import messages
from core.openapi.errors import REF, raw_error_responses

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}

TOOL_CALL = {
    "type": "object",
    "required": ["id", "type", "function"],
    "properties": {
        "id": NULLABLE_STRING,
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "arguments"],
            "properties": {"name": STRING, "arguments": {"type": "string", "description": "JSON, as a string."}},
        },
    },
}
TOOL_CALL_DELTA = {
    "type": "object",
    "required": ["index", "function"],
    "properties": {
        "index": {"type": "integer"},
        "id": NULLABLE_STRING,
        "type": {"const": "function"},
        "function": {"type": "object", "properties": {"name": NULLABLE_STRING, "arguments": STRING}},
    },
}
MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "description": "Text, or parts ({type: text, text} / {type: image_url, image_url: {url}}).",
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object", "required": ["type"], "properties": {
                    "type": {"type": "string", "enum": ["text", "image_url"]}}}},
                {"type": "null"},
            ],
        },
    },
    "description": "Other keys (a tool message's `tool_call_id`, an assistant message's `tool_calls` …) are passed "
    "on to the provider as they are.",
}  # fmt: skip
TOOLS = {
    "type": "array",
    "description": 'OpenAI\'s tools: `[{"type": "function", "function": {"name", "description", "parameters"}}]`.',
    "items": {"type": "object", "required": ["function"], "properties": {"function": {"type": "object"}}},
}
GATEWAY_TOOLS = {
    **TOOLS,
    "items": {"type": "object", "required": ["function"], "properties": {
        "function": {"type": "object", "required": ["name"], "properties": {"name": STRING}}}},
}  # fmt: skip


def nullable(schema: Any) -> dict[str, Any]:
    """``schema``, or null (which the parsers read as "not given")."""
    return {"anyOf": [schema, {"type": "null"}]}


USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "estimated"],
    "properties": {
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
        "cost_usd": {"type": ["number", "null"], "description": "null: the model has no known price."},
        "estimated": {"type": "boolean", "description": "The provider reported no usage: counted here."},
    },
}
ROUTE = {"type": "object", "required": ["endpoint", "model"], "properties": {"endpoint": STRING, "model": STRING}}

SCHEMAS: dict[str, Any] = {
    "ChatMessage": MESSAGE,
    "ChatRequest": {
        "type": "object",
        "required": ["endpoint", "messages"],
        "properties": {
            "endpoint": {"type": "string", "minLength": 1, "description": "A name of GET /api/endpoints."},
            "model": {"type": "string", "description": "A model id of that endpoint (assistants: optional)."},
            "messages": {"type": "array", "minItems": 1, "items": {"$ref": REF + "ChatMessage"}},
            "conversationId": nullable(STRING),
            "stream": {"type": "boolean", "default": True, "description": "false: one JSON answer."},
            "parameters": {"type": ["object", "null"], "properties": {name: nullable(schema) for name, schema in {
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "max_tokens": {"type": "integer", "minimum": 1},
                "stop": {"oneOf": [STRING, {"type": "array", "items": STRING}]},
            }.items()}, "additionalProperties": True, "description": "Other keys are passed on to the provider."},
            "tools": nullable(TOOLS),
            "tool_choice": {"description": "Passed on to the provider."},
            "response_format": {"description": "An object, passed on (anything else is ignored)."},
            "assistant_id": nullable(STRING),
            "thread_id": nullable(STRING),
            "run_id": nullable(STRING),
            "tool_outputs": nullable({"type": "array", "items": {"type": "object"},
                                      "description": "Assistants: `[{tool_call_id, output}]` for a requires_action."}),
        },
    },
    "ChatCreatedEvent": {
        "type": "object",
        "description": "SSE `created`: the request is under way.",
        "required": ["requestId", "conversationId", "endpoint", "model"],
        "properties": {"requestId": STRING, "conversationId": STRING, "endpoint": STRING, "model": STRING,
                       "assistant_id": NULLABLE_STRING, "thread_id": STRING, "run_id": STRING},
    },
    "ChatDeltaEvent": {
        "type": "object",
        "description": "SSE `delta`: more text (or tool call fragments).",
        "required": ["text"],
        "properties": {"text": STRING, "tool_calls": {"type": "array", "items": TOOL_CALL_DELTA}},
    },
    "ChatFallbackEvent": {
        "type": "object",
        "description": "SSE `fallback`: the requested model failed before answering; another one is tried.",
        "required": ["from", "to", "reason"],
        "properties": {"from": ROUTE, "to": ROUTE, "reason": {"type": "string", "description": "An error type."}},
    },
    "ChatStepEvent": {
        "type": "object",
        "description": "SSE `step` (assistants): a code interpreter or file search step.",
        "required": ["id", "type", "status", "text"],
        "properties": {"id": STRING, "type": STRING, "status": STRING, "text": STRING, "input": STRING,
                       "output": STRING},
    },
    "ChatFinalEvent": {
        "type": "object",
        "description": "SSE `final` (and the JSON answer of `stream: false`): the whole answer and its cost.",
        "required": ["requestId", "conversationId", "text", "finish_reason", "endpoint", "model", "usage"],
        "properties": {
            "requestId": STRING, "conversationId": STRING, "text": STRING,
            "finish_reason": {"type": ["string", "null"], "description": "stop, length, tool_calls, content_filter"},
            "endpoint": {"type": "string", "description": "The endpoint that answered (after fallbacks)."},
            "model": {"type": "string", "description": "The model that answered."},
            "usage": USAGE,
            "tool_calls": {"type": "array", "items": TOOL_CALL},
            "thread_id": STRING, "run_id": STRING,
        },
    },
    "ChatRequiresActionEvent": {
        "type": "object",
        "description": "SSE `requires_action` (assistants): the run waits for these tool calls' outputs; with "
        "`stream: false` the JSON answer, with `event: requires_action`.",
        "required": ["requestId", "thread_id", "run_id", "tool_calls"],
        "properties": {"event": {"const": "requires_action"}, "requestId": STRING, "conversationId": STRING,
                       "thread_id": STRING, "run_id": STRING, "endpoint": STRING, "model": STRING, "usage": USAGE,
                       "tool_calls": {"type": "array", "items": TOOL_CALL}},
    },
    "OpenAIChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "minLength": 1,
                      "description": '"<endpoint>/<model id>", or a bare id offered by one endpoint only.'},
            "messages": {"type": "array", "minItems": 1, "items": {"$ref": REF + "ChatMessage"}},
            **{name: nullable(schema) for name, schema in {
                "stream": {"type": "boolean", "default": False},
                "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "max_tokens": {"type": "integer", "minimum": 1},
                "max_completion_tokens": {"type": "integer", "minimum": 1},
                "stop": {"oneOf": [STRING, {"type": "array", "items": STRING}]},
                "n": {"const": 1},
                "tools": GATEWAY_TOOLS,
                "response_format": {"type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["text", "json_object", "json_schema"]}}},
                "user": STRING,
            }.items()},
            "tool_choice": {"description": '"none", "auto", "required" or {"type": "function", "function": {"name"}}'},
        },
    },
    "OpenAIChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": STRING, "object": {"const": "chat.completion"}, "created": {"type": "integer"},
            "model": {"type": "string", "description": '"<endpoint>/<model id>" that answered.'},
            "system_fingerprint": {"type": "null"},
            "choices": {"type": "array", "items": {"type": "object", "required": ["index", "message",
                                                                                  "finish_reason"], "properties": {
                "index": {"type": "integer"},
                "message": {"type": "object", "required": ["role", "content"], "properties": {
                    "role": {"const": "assistant"}, "content": NULLABLE_STRING, "refusal": {"type": "null"},
                    "tool_calls": {"type": "array", "items": TOOL_CALL}}},
                "logprobs": {"type": "null"},
                "finish_reason": STRING}}},
            "usage": {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
                      "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
                                     "total_tokens": {"type": "integer"}}},
        },
    },
    "OpenAIChatCompletionChunk": {
        "type": "object",
        "description": "One `data:` frame of a streamed completion (the stream ends with `data: [DONE]`).",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": STRING, "object": {"const": "chat.completion.chunk"}, "created": {"type": "integer"},
            "model": STRING, "system_fingerprint": {"type": "null"},
            "choices": {"type": "array", "items": {"type": "object", "required": ["index", "delta"], "properties": {
                "index": {"type": "integer"}, "delta": {"type": "object"}, "logprobs": {"type": "null"},
                "finish_reason": NULLABLE_STRING}}},
            "usage": {"type": ["object", "null"]},
        },
    },
    "OpenAIModel": {
        "type": "object",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {"id": {"type": "string", "description": '"<endpoint>/<model id>", or a bare id.'},
                       "object": {"const": "model"}, "created": {"type": "integer"},
                       "owned_by": {"type": "string", "description": "The endpoint that serves it."}},
    },
    "OpenAIModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": REF + "OpenAIModel"}}},
    },
}  # fmt: skip

EVENTS = ("created", "fallback", "step", "delta", "final", "requires_action", "error")
EVENT_SCHEMAS = {
    "created": "ChatCreatedEvent", "fallback": "ChatFallbackEvent", "step": "ChatStepEvent", "delta": "ChatDeltaEvent",
    "final": "ChatFinalEvent", "requires_action": "ChatRequiresActionEvent", "error": "Error",
}  # fmt: skip


def _json_data(schema: dict[str, Any]) -> dict[str, Any]:
    """An SSE ``data:`` field holding JSON that matches ``schema`` (how OpenAPI 3.1/3.2 say it)."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


SSE_DESCRIPTION = (
    "Server-sent events: each frame is `event: <name>` and `data: <JSON object>`. In order: `created`; "
    "a `fallback` per model tried instead; `delta`s (and, for assistants, `step`s); then exactly one of "
    "`final`, `requires_action` (assistants) or `error` (an Error body, after which the stream ends). "
    "Each event's data is the component named in `x-sse-events`. Anything that fails before the first "
    "token is an HTTP error instead."
)
SCHEMAS["ChatEventStreamItem"] = {
    "description": SSE_DESCRIPTION,
    "oneOf": [
        {"type": "object", "required": ["event", "data"], "properties": {
            "event": {"const": event}, "data": _json_data({"$ref": REF + EVENT_SCHEMAS[event]})}}
        for event in EVENTS
    ],
}  # fmt: skip
SCHEMAS["OpenAIChatCompletionStreamItem"] = {
    "description": "A `data:` frame: a chunk, an error (`{\"error\": …}`, then the stream ends) or `[DONE]`.",
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"anyOf": [
        {"const": "[DONE]"},
        _json_data({"oneOf": [{"$ref": REF + "OpenAIChatCompletionChunk"}, {"$ref": REF + "OpenAIError"}]}),
    ]}},
}  # fmt: skip
CHAT_ERRORS = (400, 401, 402, 404, 405, 413, 429, 500, 502, 503, 504)
HELLO = {"role": "user", "content": "Hello!"}
BEARER: list[dict[str, list[str]]] = [{"tokenAuth": []}, {"cookieAuth": []}]


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF + ref}}}


def _rate_limited(responses: dict[str, Any]) -> dict[str, Any]:
    if "429" in responses:
        responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                       "description": "Seconds to wait."}}  # fmt: skip
    return responses


def paths() -> dict[str, Any]:
    gateway_security: list[dict[str, list[str]]] = [{"tokenAuth": []}]
    return {
        "/api/chat": {"post": {
            "operationId": "chat",
            "tags": ["chat"],
            "summary": "Chat with a model (streamed as server-sent events, or one JSON answer)",
            "description": "Runs through the limits, budgets and fallbacks; every request is recorded in usage. "
            "A signed-in browser may use its session (same-origin requests only).",
            "security": BEARER,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF + "ChatRequest"},
                "examples": {
                    "streamed": {"summary": "Streamed (server-sent events)", "value": {
                        "endpoint": "openAI", "model": "gpt-4o-mini", "messages": [HELLO]}},
                    "json": {"summary": "One JSON answer", "value": {
                        "endpoint": "openAI", "model": "gpt-4o-mini", "messages": [HELLO], "stream": False,
                        "parameters": {"temperature": 0.2, "max_tokens": 200}}},
                },
            }}},
            "responses": {
                "200": {
                    "description": "`stream: true` (the default): server-sent events; `stream: false`: the final "
                    "object (or, for an assistants run that waits for tool outputs, the requires_action one).",
                    "content": {
                        "text/event-stream": {"schema": {"$ref": REF + "ChatEventStreamItem"}},
                        "application/json": {"schema": {"oneOf": [{"$ref": REF + "ChatFinalEvent"},
                                                                  {"$ref": REF + "ChatRequiresActionEvent"}]}},
                    },
                },
                **_rate_limited(raw_error_responses(*CHAT_ERRORS)),
            },
        }},
        "/v1/models": {"get": {
            "operationId": "openai_models",
            "tags": ["OpenAI-compatible gateway"],
            "summary": "OpenAI's list of models: every `<endpoint>/<model id>`, plus unambiguous bare ids",
            "description": "Anthropic's paged list instead when asked with an `anthropic-version` header (any "
            "value); then `limit` (1-1000, 20), `after_id` and `before_id` page it, and a bad one is a 400.",
            "security": gateway_security,
            "responses": {"200": {"description": "The models.", "content": messages.either("OpenAIModelList",
                                                                                          "AnthropicModelList")},
                          **messages.either_errors(400, 401, 405)},
        }},
        "/v1/models/{model}": {"get": {
            "operationId": "openai_model",
            "tags": ["OpenAI-compatible gateway"],
            "summary": "One model of the list",
            "security": gateway_security,
            "description": "In Anthropic's shape when asked with an `anthropic-version` header.",
            "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The model.", "content": messages.either("OpenAIModel",
                                                                                         "AnthropicModel")},
                          **messages.either_errors(401, 404, 405)},
        }},
        "/v1/chat/completions": {"post": {
            "operationId": "openai_chat_completions",
            "tags": ["OpenAI-compatible gateway"],
            "summary": "OpenAI's Chat Completions for any configured endpoint; the official SDKs work unchanged",
            "security": gateway_security,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF + "OpenAIChatCompletionRequest"},
                "examples": {
                    "completion": {"summary": "One chat.completion", "value": {
                        "model": "openAI/gpt-4o-mini", "messages": [HELLO]}},
                    "stream": {"summary": "Streamed chunks with usage", "value": {
                        "model": "openAI/gpt-4o-mini", "messages": [HELLO], "stream": True,
                        "stream_options": {"include_usage": True}}},
                },
            }}},
            "responses": {
                "200": {
                    "description": "A `chat.completion`, or with `stream: true` `chat.completion.chunk` frames "
                    "ending with `data: [DONE]` (an error after the first chunk is a `data: {\"error\": …}` frame).",
                    "content": {
                        **_json("OpenAIChatCompletion"),
                        "text/event-stream": {"schema": {"$ref": REF + "OpenAIChatCompletionStreamItem"}},
                    },
                },
                **_rate_limited(raw_error_responses(*CHAT_ERRORS, openai=True)),
            },
        }},
    }  # fmt: skip
