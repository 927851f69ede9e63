"""Where a request goes: an endpoint (and model) from the snapshot, plus the
credentials resolved for this request, become a provider ``Target``.

This is the one place that turns references into secrets: ``${VAR}`` from the
environment, literal keys decrypted, user keys passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from core import secrets
from endpoints.catalog.deployments import Deployment
from endpoints.catalog.snapshot import EndpointInfo, GroupInfo, ModelInfo
from endpoints.config.interpolate import is_unresolved, never_resolved, resolve, resolve_headers
from endpoints.config.seed import secret_context
from endpoints.models import USER_PROVIDED, EndpointKind, Wire
from endpoints.providers.base import AssistantsSettings, Target, Timeouts

DEFAULT_BASE_URLS = {
    EndpointKind.OPENAI: "https://api.openai.com/v1",
    EndpointKind.ASSISTANTS: "https://api.openai.com/v1",
    EndpointKind.ANTHROPIC: "https://api.anthropic.com",
    EndpointKind.GOOGLE: "https://generativelanguage.googleapis.com",
}
WIRE_BY_KIND = {
    EndpointKind.OPENAI: "openai",
    EndpointKind.CUSTOM: "openai",
    EndpointKind.ASSISTANTS: "assistants",
    EndpointKind.ANTHROPIC: "anthropic",
    EndpointKind.GOOGLE: "google",
    EndpointKind.AZURE_OPENAI: "azure",
    EndpointKind.AZURE_ASSISTANTS: "azureAssistants",
}
#: The assistants API version LibreChat assumes for each (its ``version`` setting's default).
DEFAULT_ASSISTANTS_VERSION = {EndpointKind.ASSISTANTS: "2", EndpointKind.AZURE_ASSISTANTS: "1"}


class TargetError(Exception):
    """The endpoint cannot be called as configured (``kind`` is a contract error type)."""

    def __init__(self, kind: str, message: str, **context: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.context = context


@dataclass(frozen=True, slots=True)
class UserCredentials:
    """What a user stored for a ``user_provided`` endpoint."""

    api_key: str | None = None
    base_url: str | None = None


def timeouts() -> Timeouts:
    return Timeouts(
        connect=settings.UPSTREAM_CONNECT_TIMEOUT,
        first_token=settings.UPSTREAM_FIRST_TOKEN_TIMEOUT,
        idle=settings.UPSTREAM_IDLE_TIMEOUT,
        total=settings.UPSTREAM_MAX_SECONDS,
        max_bytes=settings.UPSTREAM_MAX_BYTES,
    )


def _secret(api_key: str, api_key_secret: str, owner: str) -> str:
    if api_key_secret:
        try:
            return secrets.decrypt(api_key_secret, context=secret_context(owner))
        except secrets.SecretError as exc:
            raise TargetError("upstream_error", f"the stored key of {owner} cannot be read: {exc}") from None
    key = resolve(api_key)
    refused = never_resolved(api_key)
    if refused:
        raise TargetError(
            "upstream_error",
            f"{owner.split(':', 1)[-1]} is not ready: its API key refers to {', '.join(refused)}, which this "
            "service never sends upstream. Ask an administrator to give it its own variable.",
        )
    if is_unresolved(key):
        # Never send "${VAR}" upstream as if it were a key.
        raise TargetError(
            "upstream_error",
            f"{owner.split(':', 1)[-1]} is not ready: its API key refers to an environment "
            "variable that is not set on the server. Ask an administrator to set it.",
        )
    return key


def assistants_settings(endpoint: EndpointInfo) -> AssistantsSettings | None:
    default = DEFAULT_ASSISTANTS_VERSION.get(endpoint.kind)  # type: ignore[call-overload]
    if default is None:
        return None
    timing: dict[str, float] = {}  # unset: LibreChat's defaults, AssistantsSettings'
    if endpoint.poll_interval_ms:
        timing["poll_interval"] = endpoint.poll_interval_ms / 1000
    if endpoint.timeout_ms:
        timing["timeout"] = endpoint.timeout_ms / 1000
    return AssistantsSettings(
        version=(endpoint.version or default).lstrip("vV") or default,
        **timing,
        private=endpoint.private_assistants,
        supported_ids=tuple(endpoint.supported_ids) if endpoint.supported_ids else None,
        excluded_ids=tuple(endpoint.excluded_ids or ()),
    )


def build_target(endpoint: EndpointInfo, model: ModelInfo | None, user: UserCredentials | None = None) -> Target:
    """The provider target for ``endpoint`` (and, for Azure, the group serving ``model``)."""
    if endpoint.kind in (EndpointKind.AZURE_OPENAI, EndpointKind.AZURE_ASSISTANTS):
        return _azure_target(endpoint, model)
    wire = Wire.ANTHROPIC if endpoint.wire == Wire.ANTHROPIC else WIRE_BY_KIND[endpoint.kind]  # type: ignore[index]
    guarded = False
    if endpoint.user_provides_key:
        if user is None or not user.api_key:
            raise TargetError("no_user_key", f"Set your API key for {endpoint.name} first.", endpoint=endpoint.name)
        api_key = user.api_key
    else:
        api_key = _secret(endpoint.api_key, endpoint.api_key_secret, f"endpoint:{endpoint.name}")
    if endpoint.user_provides_url:
        if user is None or not user.base_url:
            raise TargetError(
                "invalid_base_url", f"Set your base URL for {endpoint.name} first.", endpoint=endpoint.name
            )
        base_url, guarded = user.base_url, True
    else:
        base_url = resolve(endpoint.base_url) or DEFAULT_BASE_URLS.get(endpoint.kind, "")  # type: ignore[call-overload]
    if not base_url or is_unresolved(base_url):
        raise TargetError("upstream_error", f"{endpoint.name} has no usable base URL configured.")
    return Target(
        kind=wire,
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        headers=resolve_headers(endpoint.headers),
        add_params=dict(endpoint.add_params),
        drop_params=list(endpoint.drop_params),
        organization=resolve(endpoint.organization) or None if endpoint.organization else None,
        timeouts=timeouts(),
        guarded=guarded,
        assistants=assistants_settings(endpoint),
        endpoint=endpoint.name,
    )


def _azure_target(endpoint: EndpointInfo, model: ModelInfo | None, *, group_name: str = "",
                  deployment_name: str = "") -> Target:  # fmt: skip
    group: GroupInfo | None = None
    if group_name:
        group = endpoint.groups.get(group_name)
        if group is None:
            raise TargetError("upstream_error", f"{endpoint.name} has no Azure group {group_name!r}.")
    elif model is not None and model.group:
        group = endpoint.groups.get(model.group)
    if group is None:
        group = next(iter(endpoint.groups.values()), None)
    if group is None:
        raise TargetError("upstream_error", f"{endpoint.name} has no Azure group configured.")
    api_key = _secret(group.api_key, group.api_key_secret, f"azure-group:azureOpenAI:{group.group}")
    if group.api_key == USER_PROVIDED:
        raise TargetError("no_user_key", "Azure groups with user-provided keys are not supported.")
    return Target(
        kind=WIRE_BY_KIND[endpoint.kind],  # type: ignore[index]
        base_url=resolve(group.base_url).rstrip("/"),
        api_key=api_key,
        headers=resolve_headers(group.headers),
        add_params={**endpoint.add_params, **group.add_params},
        drop_params=[*endpoint.drop_params, *group.drop_params],
        azure_instance=resolve(group.instance_name) or None,
        azure_deployment=deployment_name
        or (model.deployment_name if model and not group_name else "")
        or resolve(group.deployment_name)
        or None,
        azure_api_version=(model.api_version if model else "") or group.version or None,
        azure_serverless=group.serverless,
        timeouts=timeouts(),
        assistants=assistants_settings(endpoint),
        endpoint=endpoint.name,
    )


def deployment_target(endpoint: EndpointInfo, model_id: str, deployment: Deployment, user: UserCredentials | None,
                      lookup: Callable[[str], EndpointInfo | None]) -> tuple[Target, str]:  # fmt: skip
    """The target of one of ``model_id``'s deployments, and the model id to ask it for."""
    model = endpoint.model(model_id)
    if deployment.target:
        name, _, other_model = deployment.target.partition("/")
        other = lookup(name)
        if other is None:
            raise TargetError("upstream_error", f"the deployment {deployment.name!r} of {endpoint.name}/{model_id} "
                              f"targets {name}, which is not enabled.")  # fmt: skip
        return build_target(other, other.model(other_model)), other_model
    if deployment.group:
        return _azure_target(endpoint, model, group_name=deployment.group,
                             deployment_name=resolve(deployment.deployment_name)), model_id  # fmt: skip
    target = build_target(endpoint, model, user)
    if deployment.api_key:
        target.api_key = _secret(deployment.api_key, "", f"deployment:{deployment.key}")
    if deployment.base_url:
        base_url = resolve(deployment.base_url)
        if not base_url or is_unresolved(base_url):
            raise TargetError("upstream_error", f"the deployment {deployment.name!r} of {endpoint.name}/{model_id} "
                              "has no usable base URL.")  # fmt: skip
        target.base_url = base_url.rstrip("/")
    return target, model_id
