"""Where a chat goes: the endpoint and model it asks for (or a fallback), checked, with the
caller's credentials, as a provider target; and how provider failures read as contract errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.caller import Caller
from core.errors import STATUS, ApiError
from endpoints.catalog.modelfetch import fetch_models
from endpoints.catalog.snapshot import EndpointInfo, ModelInfo, Snapshot
from endpoints.catalog.targets import TargetError, UserCredentials, build_target
from endpoints.chat.request import ChatCall
from endpoints.providers.assistants import ASSISTANTS_KINDS
from endpoints.providers.base import ProviderError


@dataclass(slots=True)
class Route:
    endpoint: EndpointInfo
    model_id: str
    model: ModelInfo | None
    target: Any


def provider_error(exc: ProviderError, endpoint: str) -> ApiError:
    """A provider failure as the contract's error (never the upstream body)."""
    context: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if exc.kind in ("invalid_api_key", "model_not_available", "upstream_error", "upstream_timeout"):
        context["endpoint"] = endpoint
    if exc.kind == "upstream_rate_limited":
        context["endpoint"] = endpoint
        if exc.retry_after is not None:
            seconds = max(1, round(exc.retry_after))
            headers["Retry-After"] = str(seconds)
            context["retry_after"] = seconds
    return ApiError(exc.kind, exc.message, status=STATUS.get(exc.kind, 502), headers=headers, **context)


def fallback_chain(endpoint: EndpointInfo, model_id: str) -> list[tuple[str, str]]:
    """The requested ``(endpoint, model)`` then its fallbacks: the model's own list, else the
    endpoint's.  Entries that are not ``endpoint/model`` (admin-edited JSON) or repeat an earlier
    one are skipped, so a chat never tries the same target twice."""
    model = endpoint.model(model_id)
    chain = [(endpoint.name, model_id)]
    for entry in (model.fallbacks if model else ()) or endpoint.fallbacks:
        name, _, target = str(entry).partition("/")
        if name and target and (name, target) not in chain:
            chain.append((name, target))
    return chain


def templated_headers(headers: dict[str, str], caller: Caller, call: ChatCall) -> dict[str, str]:
    """LibreChat's per-request header placeholders ({{LIBRECHAT_USER_ID}} …)."""
    if not any("{{" in v for v in headers.values()):
        return headers
    values = {
        "{{LIBRECHAT_USER_ID}}": str(caller.id),
        "{{LIBRECHAT_USER_EMAIL}}": caller.email,
        "{{LIBRECHAT_USER_USERNAME}}": caller.username,
        "{{LIBRECHAT_BODY_CONVERSATIONID}}": call.conversation_id,
        "{{LIBRECHAT_BODY_PARENTMESSAGEID}}": str(call.extra.get("parentMessageId", "")),
        "{{LIBRECHAT_BODY_MESSAGEID}}": str(call.extra.get("messageId", "")),
    }
    result = {}
    for name, value in headers.items():
        for placeholder, replacement in values.items():
            value = value.replace(placeholder, replacement)
        result[name] = value
    return result


async def resolve_route(snapshot: Snapshot, caller: Caller, call: ChatCall, endpoint_name: str, model_id: str) -> Route:
    """Where this chat goes on ``endpoint_name``/``model_id``: checks, credentials and the provider target."""
    endpoint = snapshot.get(endpoint_name)
    if endpoint is None:
        raise ApiError(
            "endpoint_not_found", f"There is no enabled endpoint named {endpoint_name!r}.", endpoint=endpoint_name
        )
    credentials = await user_credentials_for(caller, endpoint)
    assistants = endpoint.kind in ASSISTANTS_KINDS
    if assistants:
        if not (call.assistant_id or (call.thread_id and call.run_id and call.tool_outputs is not None)):
            raise ApiError(
                "invalid_request",
                f"{endpoint_name} chats need an assistant_id (and a thread_id to go on with a thread), "
                "or the thread_id, run_id and tool_outputs of a run that requires action.",
                errors={"assistant_id": ["This field is required."]},
            )
        # LibreChat's validateAssistant: supportedIds first, else excludedIds.
        allowed = endpoint.supported_ids or None
        if call.assistant_id and (
            (allowed is not None and call.assistant_id not in allowed)
            or (allowed is None and call.assistant_id in (endpoint.excluded_ids or ()))
        ):
            raise ApiError(
                "invalid_request",
                f"The assistant {call.assistant_id!r} is not supported on {endpoint_name}.",
                errors={"assistant_id": ["Assistant not supported."]},
            )
    if not endpoint.user_provides_url and not (assistants and not model_id):
        offered = await fetch_models(endpoint, user_id=str(caller.id))
        if model_id not in offered and endpoint.model(model_id) is None:
            raise ApiError(
                "model_not_available",
                f"{endpoint_name} does not offer the model {model_id!r}.",
                endpoint=endpoint_name,
                model=model_id,
            )
    model = endpoint.model(model_id)
    if call.has_images and model is not None and not model.vision:
        raise ApiError(
            "invalid_request",
            f"The model {model_id!r} does not accept images.",
            errors={"messages": ["Remove the images or pick a model with vision."]},
        )
    target_model = model
    if endpoint.kind == "azureAssistants" and (azure := snapshot.get("azureOpenAI")) is not None:
        # The group serving the model is azureOpenAI's (LibreChat: modelGroupMap; without a
        # model, the first assistants model, as LibreChat's assistantModels[0]).
        target_model = azure.model(model_id or next((m.id for m in endpoint.models), "")) or model
    try:
        target = build_target(endpoint, target_model, credentials)
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]
    target.headers = templated_headers(target.headers, caller, call)
    return Route(endpoint=endpoint, model_id=model_id, model=model, target=target)


async def user_credentials_for(caller: Caller, endpoint: EndpointInfo) -> UserCredentials | None:
    """The caller's stored key (and base URL) where the endpoint needs them."""
    if not (endpoint.user_provides_key or endpoint.user_provides_url):
        return None
    from endpoints.keys.store import user_credentials

    try:
        return await user_credentials(caller.id, endpoint)
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]
