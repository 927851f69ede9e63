"""Rows -> a librechat.yaml that LibreChat accepts and that seeds back to the same rows.

Keys stay as written (``${VAR}``, ``user_provided``).  A literal key typed in
admin is a secret: it is written only with ``include_secrets``; otherwise the
export names an environment variable to hold it and says so in ``warnings``.
The ``version:`` is the one the last seed read; ``endpoints:`` is left out when
there is nothing to put in it (LibreChat refuses an empty one).  Tested against
LibreChat's own schema in tests/test_librechat_parity.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core import secrets
from endpoints.config.seed import secret_context
from endpoints.config.yamlfile import dump
from endpoints.models import AzureGroup, ConfigState, Endpoint, EndpointKind, EndpointModel, Source

#: The version written when no file was ever seeded (LibreChat's example's).
EXPORT_VERSION = "1.3.14"


@dataclass
class Export:
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        return dump(self.data)


def export(*, include_secrets: bool = False) -> Export:
    state = ConfigState.objects.filter(pk=1).first()
    out = Export({"version": state.version if state is not None else EXPORT_VERSION})
    endpoints = Endpoint.objects.prefetch_related("models", "groups", "groups__models").order_by("position", "name")
    section: dict[str, Any] = {}
    customs = []
    for endpoint in endpoints:
        if endpoint.kind == EndpointKind.CUSTOM:
            customs.append(_custom(endpoint, out, include_secrets))
        elif endpoint.kind == EndpointKind.AZURE_OPENAI:
            section["azureOpenAI"] = _azure(endpoint, out, include_secrets)
        elif endpoint.kind == EndpointKind.AZURE_ASSISTANTS:
            item = _builtin(endpoint, out, include_secrets, models=False)
            if item:
                section["azureAssistants"] = item
        else:
            item = _builtin(endpoint, out, include_secrets, models=True)
            if item or endpoint.source == Source.YAML:  # `openAI: {}` still configures the endpoint
                section[endpoint.name] = item
    if customs:
        section["custom"] = customs
    if section:
        out.data["endpoints"] = section
    from endpoints.config.balance import export_balance

    balance = export_balance()
    if balance is not None:
        out.data["balance"] = balance
    return out


def _key(row: Endpoint | AzureGroup, owner: str, out: Export, include_secrets: bool) -> str:
    if not row.api_key_secret:
        return row.api_key
    if include_secrets:
        return secrets.decrypt(row.api_key_secret, context=secret_context(owner))
    var = re.sub(r"[^A-Z0-9]+", "_", f"{owner.split(':', 1)[1]}_API_KEY".upper()).strip("_")
    out.warnings.append(f"{owner}: the key is stored encrypted; exported as ${{{var}}} — set that variable")
    return f"${{{var}}}"


def _model_items(models: list[EndpointModel], *, all_models: bool) -> list[Any]:
    """The models a yaml lists: all of a custom endpoint's; of a built-in, those the yaml
    (or admin) added or changed, not LibreChat's defaults or the environment's list."""
    items: list[Any] = []
    for model in models:
        if model.source == Source.FETCHED:
            continue
        if model.overrides or model.admin_modified:
            items.append(_model_object(model))
        elif all_models or model.source in (Source.YAML, Source.ADMIN):
            items.append(model.model_id)
    return items


def _model_names(endpoint: Endpoint, models: list[EndpointModel], out: Export) -> list[str]:
    """anthropic's ``models``: LibreChat's form is a list of names, which cannot carry settings."""
    names = []
    for item in _model_items(models, all_models=False):
        if isinstance(item, dict):
            out.warnings.append(
                f"{endpoint.name}/{item['name']}: per-model settings do not fit LibreChat's anthropic.models; "
                "exported as a name only (the row keeps them)"
            )
            item = item["name"]
        names.append(item)
    return names


def _model_object(model: EndpointModel) -> dict[str, Any]:
    """The yaml item as written, or, for a model edited in admin, one built from its fields."""
    if model.overrides and not model.admin_modified:
        return dict(model.overrides)
    item: dict[str, Any] = {"name": model.model_id}
    optional = {
        "label": model.label or None,
        "contextWindow": model.context_window,
        "maxOutputTokens": model.max_output_tokens,
        "vision": model.vision,
        "tools": model.tools,
        "streaming": model.streaming,
        "fallbacks": model.fallbacks or None,
        "rateLimit": model.rate_limit,
        "deployments": model.deployments or None,
        "routing": model.routing,
    }
    item.update({key: value for key, value in optional.items() if value is not None})
    prices = {"prompt": model.prompt_price, "completion": model.completion_price, "cached": model.cached_price}
    if any(value is not None for value in prices.values()):
        item["prices"] = {key: str(value) for key, value in prices.items() if value is not None}
    return item


def _common(endpoint: Endpoint) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if endpoint.headers:
        item["headers"] = dict(endpoint.headers)
    if endpoint.add_params:
        item["addParams"] = dict(endpoint.add_params)
    if endpoint.drop_params:
        item["dropParams"] = list(endpoint.drop_params)
    if endpoint.rate_limit:
        item["rateLimit"] = dict(endpoint.rate_limit)
    if endpoint.fallbacks:
        item["fallbacks"] = list(endpoint.fallbacks)
    if endpoint.routing:
        item["routing"] = dict(endpoint.routing)
    return item


def _builtin(endpoint: Endpoint, out: Export, include_secrets: bool, *, models: bool) -> dict[str, Any]:
    item = _common(endpoint)
    if endpoint.source == Source.YAML and endpoint.base_url and not endpoint.base_url.startswith("${"):
        item["baseURL"] = endpoint.base_url
    if endpoint.kind in (EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS):
        written = "disableBuilder" in endpoint.extra
        assistant_keys = {
            "disableBuilder": endpoint.disable_builder if endpoint.disable_builder or written else None,
            "pollIntervalMs": endpoint.poll_interval_ms,
            "timeoutMs": endpoint.timeout_ms,
            "version": endpoint.version or None,
            "supportedIds": endpoint.supported_ids,
            "excludedIds": endpoint.excluded_ids,
            "privateAssistants": endpoint.private_assistants or None,
            "retrievalModels": endpoint.retrieval_models,
            "capabilities": endpoint.capabilities,
        }
        item.update({key: value for key, value in assistant_keys.items() if value is not None})
    extra = dict(endpoint.extra)
    if endpoint.kind in (EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS):
        extra.pop("disableBuilder", None)  # written above, from the field (admin may have changed it)
    if models and endpoint.kind == EndpointKind.ANTHROPIC:
        names = _model_names(endpoint, list(endpoint.models.all()), out)
        if names:
            item["models"] = names
    elif models:
        listed = _model_items(list(endpoint.models.all()), all_models=False)
        if listed:
            item["models"] = {"default": listed}
    item.update(extra)
    return item


def _custom(endpoint: Endpoint, out: Export, include_secrets: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": endpoint.name,
        "apiKey": _key(endpoint, f"endpoint:{endpoint.name}", out, include_secrets),
        "baseURL": endpoint.base_url,
    }
    if endpoint.wire != "openai":
        item["provider"] = endpoint.wire
    models: dict[str, Any] = {"default": _model_items(list(endpoint.models.all()), all_models=True)}
    if endpoint.models_fetch:
        models["fetch"] = True
    if endpoint.user_id_query:
        models["userIdQuery"] = True
    item["models"] = models
    item.update(_common(endpoint))
    if endpoint.model_display_label:
        item["modelDisplayLabel"] = endpoint.model_display_label
    if endpoint.icon_url:
        item["iconURL"] = endpoint.icon_url
    item.update(endpoint.extra)
    return item


def _azure(endpoint: Endpoint, out: Export, include_secrets: bool) -> dict[str, Any]:
    item = _common(endpoint)
    item.pop("headers", None)
    groups = []
    for group in endpoint.groups.all():
        data: dict[str, Any] = {
            "group": group.group,
            "apiKey": _key(group, f"azure-group:{endpoint.name}:{group.group}", out, include_secrets),
        }
        optional = {
            "instanceName": group.instance_name,
            "deploymentName": group.deployment_name,
            "version": group.version,
            "baseURL": group.base_url,
            "serverless": group.serverless,
            "assistants": group.assistants,
            "additionalHeaders": group.headers,
            "addParams": group.add_params,
            "dropParams": group.drop_params,
        }
        data.update({key: value for key, value in optional.items() if value})
        models: dict[str, Any] = {}
        for model in group.models.filter(endpoint=endpoint):
            mapping = {"deploymentName": model.deployment_name, "version": model.api_version,
                       "deployments": model.deployments, "routing": model.routing}  # fmt: skip
            mapping = {key: value for key, value in mapping.items() if value}
            models[model.model_id] = mapping or True
        data["models"] = models
        data.update(group.extra)
        groups.append(data)
    if any(group.assistants for group in endpoint.groups.all()):
        item["assistants"] = True  # LibreChat lists azureAssistants only with this
    item["groups"] = groups
    item.update(endpoint.extra)
    return item
