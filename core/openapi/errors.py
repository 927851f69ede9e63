"""Every error body of the contract (CONTRACT §7) as an OpenAPI component, and the responses
that name them.

``Error`` is the shape shared by all (``{"type", "message", …context}``); each error type
is a component of its own whose ``type`` is a constant (``InvalidRequestError``,
``RateLimitExceededError`` …), so a response lists exactly the errors it can answer with
(``oneOf``).  ``/v1`` answers OpenAI's ``{"error": {…}}`` instead: ``OpenAIError``.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"

#: type -> (status, what it means, extra properties of its context)
ERRORS: dict[str, tuple[int, str, dict[str, Any]]] = {
    "invalid_request": (400, "Malformed body or parameters; field errors under `errors`.", {
        "errors": {"type": ["object", "array"], "description": "Problems by field (or a list of them)."},
    }),
    "no_user_key": (400, "The endpoint needs your own key and you have none (set it on /keys/).", {}),
    "expired_user_key": (400, "Your key for the endpoint has expired.", {}),
    "invalid_user_key": (400, "Your stored key for the endpoint cannot be used.", {}),
    "invalid_base_url": (400, "The base URL may not be reached (private, loopback or metadata address).", {}),
    "not_authenticated": (401, "No token or session, or an invalid or revoked token.", {}),
    "invalid_api_key": (401, "The upstream provider rejected the key; names the `endpoint`.", {}),
    "budget_exceeded": (402, "Your balance or budget cannot cover the request.", {}),
    "permission_denied": (403, "Signed in, but not allowed (e.g. staff only).", {}),
    "not_found": (404, "No such resource.", {}),
    "endpoint_not_found": (404, "Unknown or disabled endpoint.", {}),
    "model_not_available": (404, "The endpoint does not offer the model and no fallback took it.", {}),
    "method_not_allowed": (405, "The path does not answer this method.", {}),
    "not_acceptable": (406, "The Accept header asks for a format this API does not write.", {}),
    "unsupported_media_type": (415, "The body's Content-Type is not JSON (or form data, where accepted).", {}),
    "rate_limit_exceeded": (429, "A rate limit of ours; `Retry-After` says when to try again.", {
        "limit": {"type": "integer"}, "window_seconds": {"type": "integer"},
        "scope": {"type": "string", "enum": ["ip", "user", "endpoint", "model"]},
        "unit": {"type": "string", "enum": ["requests", "tokens"]},
    }),
    "concurrent_limit": (429, "Too many chats open at once for this user.", {"limit": {"type": "integer"}}),
    "upstream_rate_limited": (429, "The provider answered 429; its `Retry-After` is passed on.", {}),
    "internal_error": (500, "A bug of ours; it was logged.", {}),
    "upstream_error": (502, "The provider failed.", {}),
    "rate_limit_unavailable": (503, "The shared counter store cannot be reached (limits fail closed).", {}),
    "upstream_timeout": (504, "The provider did not answer in time.", {}),
}  # fmt: skip

#: The statuses every authenticated REST operation may answer besides its own.
COMMON = (401, 405)


def component_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_")) + "Error"


def components() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "description": "Every error of the API (CONTRACT §7): never a key, never a raw upstream body.",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "What went wrong, as a code."},
                "message": {"type": "string", "description": "What happened and what to do."},
            },
            "additionalProperties": True,
        },
        "OpenAIError": {
            "type": "object",
            "description": "OpenAI's error body, as /v1 answers it; `code` is the contract's error type.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string", "description": "OpenAI's type, e.g. invalid_request_error."},
                        "param": {"type": ["string", "null"]},
                        "code": {"type": "string", "enum": sorted(ERRORS)},
                    },
                    "additionalProperties": True,
                }
            },
        },
    }
    for kind, (status, description, context) in ERRORS.items():
        schemas[component_name(kind)] = {
            "allOf": [{"$ref": REF + "Error"}],
            "description": f"HTTP {status}: {description}",
            "properties": {"type": {"const": kind}, **context},
        }
    return schemas


def kinds_for(status: int, only: tuple[str, ...] = ()) -> list[str]:
    """The error types of ``status``; narrowed to ``only`` where that names some of them."""
    kinds = [k for k, (s, _d, _c) in ERRORS.items() if s == status]
    return [k for k in kinds if k in only] or kinds


def error_schema(status: int, only: tuple[str, ...] = ()) -> dict[str, Any]:
    refs = [{"$ref": REF + component_name(k)} for k in kinds_for(status, only)]
    return refs[0] if len(refs) == 1 else {"oneOf": refs}


def error_responses(*statuses: int, only: tuple[str, ...] = ()) -> dict[int, Any]:
    """``extend_schema(responses=…)`` entries for these statuses (plus :data:`COMMON`), each the
    error components of that status (``only`` narrows them to these types)."""
    from drf_spectacular.utils import OpenApiResponse

    return {
        status: OpenApiResponse(
            response=error_schema(status, only),
            description="; ".join(f"`{k}`: {ERRORS[k][1]}" for k in kinds_for(status, only)),
        )
        for status in sorted({*statuses, *COMMON})
        if kinds_for(status, only)
    }


def raw_error_responses(*statuses: int, only: tuple[str, ...] = (), openai: bool = False) -> dict[str, Any]:
    """The same as :func:`error_responses`, as raw OpenAPI (for the hand-written paths)."""
    out: dict[str, Any] = {}
    for status in sorted(set(statuses)):
        kinds = kinds_for(status, only)
        schema = {"$ref": REF + "OpenAIError"} if openai else error_schema(status, only)
        out[str(status)] = {
            "description": "; ".join(f"`{k}`: {ERRORS[k][1]}" for k in kinds) or "An error.",
            "content": {"application/json": {"schema": schema}},
        }
    return out
