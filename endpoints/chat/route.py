"""Where a chat goes: the endpoint and model it asks for (or a fallback's), checked, with the
caller's credentials, as a provider target — resolved once per target tried."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.caller import Caller
from core.errors import ApiError
from endpoints.catalog.deployments import Deployment
from endpoints.catalog.modelfetch import fetch_models
from endpoints.catalog.snapshot import EndpointInfo, ModelInfo, Snapshot
from endpoints.catalog.targets import TargetError, UserCredentials, build_target, deployment_target
from endpoints.chat.request import ChatCall
from endpoints.keys.store import user_credentials
from endpoints.providers.base import Target


@dataclass(slots=True)
class Route:
    endpoint: EndpointInfo
    model_id: str  # empty: the endpoint's models are optional and none was asked for
    model: ModelInfo | None
    target: Target
    deployment: str = ""  # the deployment of the model it goes to (endpoints/routing/)
    upstream_model: str = ""  # the model id asked upstream, when the deployment names another


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


def endpoint_named(snapshot: Snapshot, name: str) -> EndpointInfo:
    endpoint = snapshot.get(name)
    if endpoint is None:
        raise ApiError("endpoint_not_found", f"There is no enabled endpoint named {name!r}.", endpoint=name)
    return endpoint


async def credentials_for(caller: Caller, endpoint: EndpointInfo) -> UserCredentials | None:
    """The caller's stored key (and base URL) where the endpoint needs them."""
    if not (endpoint.user_provides_key or endpoint.user_provides_url):
        return None
    try:
        return await user_credentials(caller.id, endpoint)
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]


def _target(endpoint: EndpointInfo, model: ModelInfo | None, credentials: UserCredentials | None) -> Target:
    try:
        return build_target(endpoint, model, credentials)
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]


async def resolve(snapshot: Snapshot, caller: Caller, call: ChatCall, endpoint_name: str, model_id: str) -> Route:
    """The route to ``endpoint_name``/``model_id`` for this caller, or the contract's error."""
    endpoint = endpoint_named(snapshot, endpoint_name)
    if not model_id and not endpoint.models_optional:
        raise ApiError("invalid_request", "The request is not valid; see errors.",
                       errors={"model": ["This field is required."]})  # fmt: skip
    if model_id in endpoint.disabled_models:
        raise ApiError("model_not_available", f"The model {model_id!r} of {endpoint_name} is disabled by an "
                       "administrator.", endpoint=endpoint_name, model=model_id)  # fmt: skip
    credentials = await credentials_for(caller, endpoint)
    model = endpoint.model(model_id)
    # With no model asked for, the endpoint's first serves (LibreChat: assistantModels[0]).
    target = _target(endpoint, model or (endpoint.models[0] if not model_id and endpoint.models else None), credentials)
    if model_id and model is None and not endpoint.user_provides_url:
        offered = await fetch_models(endpoint, user_id=str(caller.id), user=credentials, target=target)
        if model_id not in offered:
            raise ApiError("model_not_available", f"{endpoint_name} does not offer the model {model_id!r}.",
                           endpoint=endpoint_name, model=model_id)  # fmt: skip
    if call.has_images and model is not None and not model.vision:
        raise ApiError("invalid_request", f"The model {model_id!r} does not accept images.",
                       errors={"messages": ["Remove the images or pick a model with vision."]})  # fmt: skip
    target.headers = templated_headers(target.headers, caller, call)
    return Route(endpoint=endpoint, model_id=model_id, model=model, target=target)


def to_deployment(snapshot: Snapshot, route: Route, deployment: Deployment, caller: Caller, call: ChatCall) -> Route:
    """``route`` sent to one of its model's deployments (the model itself, as configured, for the default)."""
    if deployment.is_default:
        return replace(route, deployment=deployment.name)
    try:
        target, upstream_model = deployment_target(route.endpoint, route.model_id, deployment, None, snapshot.get)
    except TargetError as exc:
        raise ApiError(exc.kind, exc.message, **exc.context) from None  # type: ignore[arg-type]
    target.headers = templated_headers(target.headers, caller, call)
    return replace(route, target=target, deployment=deployment.name, upstream_model=upstream_model)
