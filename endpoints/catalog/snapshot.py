"""The configuration every request reads, as an immutable snapshot.

Building it costs three queries; after that a request reads it from memory.
Every worker checks one shared-cache key, the config version, per request;
saving or deleting any endpoint, group or model bumps it (on commit), so an
admin change reaches all workers on their next request, without a restart.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from core import memo
from endpoints.catalog.deployments import Deployment, Policy, default_deployment, deployments_of, policy_of
from endpoints.config import params
from endpoints.config.defaults import DEFAULT_ORDER
from endpoints.config.interpolate import is_unresolved, resolve
from endpoints.models import USER_PROVIDED, Endpoint, EndpointKind

log = logging.getLogger(__name__)

DEFAULT_POLICY = Policy()

VERSION_KEY = "endpoints:config-version"
#: The layout of EndpointInfo is part of the key: a snapshot pickled by an older release is not read.
SNAPSHOT_KEY = "endpoints:snapshot:3:{}"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    label: str
    context_window: int | None
    max_output_tokens: int | None
    vision: bool
    tools: bool
    streaming: bool
    fallbacks: tuple[str, ...]
    rate_limit: dict[str, int] | None
    group: str | None
    deployment_name: str
    api_version: str
    prompt_price: Decimal | None
    completion_price: Decimal | None
    cached_price: Decimal | None
    #: The targets serving it (at least one: itself) and how one is picked (endpoints/routing/).
    deployments: tuple[Deployment, ...] = ()
    policy: Policy = DEFAULT_POLICY


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group: str
    api_key: str
    api_key_secret: str
    instance_name: str
    deployment_name: str
    version: str
    base_url: str
    serverless: bool
    assistants: bool
    headers: dict[str, str]
    add_params: dict[str, Any]
    drop_params: list[str]


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    id: int
    name: str
    kind: str
    wire: str
    order: int
    api_key: str
    api_key_secret: str
    base_url: str
    organization: str
    headers: dict[str, str]
    add_params: dict[str, Any]
    drop_params: list[str]
    models_fetch: bool
    user_id_query: bool
    model_display_label: str
    icon_url: str
    capabilities: list[str] | None
    version: str
    retrieval_models: list[str] | None
    disable_builder: bool
    supported_ids: list[str] | None
    excluded_ids: list[str] | None
    private_assistants: bool
    poll_interval_ms: int | None
    timeout_ms: int | None
    rate_limit: dict[str, int] | None
    fallbacks: tuple[str, ...]
    models: tuple[ModelInfo, ...]
    groups: dict[str, GroupInfo]
    by_id: dict[str, ModelInfo] = field(repr=False)
    #: Models an administrator disabled: refused even where the upstream lists them.
    disabled_models: frozenset[str] = frozenset()
    #: customParams as LibreChat's loader leaves it (custom endpoints), for /api/endpoints.
    custom_params: dict[str, Any] | None = None
    #: The yaml wrote ``disableBuilder`` (LibreChat sends it then, even when false).
    disable_builder_written: bool = False
    #: The routing of a model not listed (fetched from the upstream): the endpoint's.
    policy: Policy = DEFAULT_POLICY

    @property
    def user_provides_key(self) -> bool:
        return self.api_key == USER_PROVIDED

    @property
    def user_provides_url(self) -> bool:
        return self.base_url == USER_PROVIDED

    @property
    def is_assistants(self) -> bool:
        return self.kind in (EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS)

    @property
    def models_optional(self) -> bool:
        """A chat may name no model: an assistants run uses its assistant's (LibreChat's assistants)."""
        return self.is_assistants

    def model(self, model_id: str) -> ModelInfo | None:
        return self.by_id.get(model_id)

    def deployments(self, model_id: str) -> tuple[tuple[Deployment, ...], Policy]:
        """Who serves ``model_id`` (a model not listed: the endpoint itself) and how one is picked."""
        model = self.by_id.get(model_id)
        if model is not None and model.deployments:
            return model.deployments, model.policy
        return (default_deployment(self.name, model_id),), self.policy

    def model_named(self, name: str) -> ModelInfo | None:
        """The model an upstream says answered: by id, else by Azure deployment name."""
        return self.by_id.get(name) or next((m for m in self.models if m.deployment_name == name), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str
    endpoints: dict[str, EndpointInfo]

    def get(self, name: str) -> EndpointInfo | None:
        return self.endpoints.get(name)


# --- version key ---------------------------------------------------------------------


#: How long a worker trusts the version it read (an edit elsewhere shows within this).
VERSION_CHECK_SECONDS = 0.5


def current_version() -> str:
    """The configuration's version: a random token, so a flushed or restarted cache
    can never bring back a number some worker still holds a snapshot for."""
    version = memo.get(VERSION_KEY)
    if version is not memo.MISSING:
        return str(version)
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or "unversioned"
    memo.put(VERSION_KEY, version, VERSION_CHECK_SECONDS)
    return str(version)


def _bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    memo.forget(VERSION_KEY)


def bump_version(*, rows_changed: bool = True) -> None:
    """Invalidate every worker's snapshot, now and (for row changes) again once the
    transaction commits: a worker that rebuilt the snapshot between the two saw
    the rows before the commit, and must not keep that copy."""
    _bump()
    if rows_changed:
        transaction.on_commit(_bump)


# --- snapshot -----------------------------------------------------------------------

_memo: dict[str, Snapshot] = {}
_memo_lock = threading.Lock()


def get_snapshot() -> Snapshot:
    """The current configuration: one cache read when warm, three queries when not."""
    version = current_version()
    snapshot = _memo.get(version)
    if snapshot is not None:
        return snapshot
    snapshot = cache.get(SNAPSHOT_KEY.format(version))
    if snapshot is None:
        snapshot = build_snapshot(version)
        cache.set(SNAPSHOT_KEY.format(version), snapshot, timeout=3600)
    with _memo_lock:
        _memo.clear()
        _memo[version] = snapshot
    return snapshot


async def aget_snapshot() -> Snapshot:
    """:func:`get_snapshot` for async code: cache reads are async, a rebuild runs in a thread."""
    version = memo.get(VERSION_KEY)
    if version is memo.MISSING:
        version = await cache.aget(VERSION_KEY)
        if version is not None:
            memo.put(VERSION_KEY, version, VERSION_CHECK_SECONDS)
    if version is not None:
        snapshot = _memo.get(str(version))
        if snapshot is not None:
            return snapshot
    return await sync_to_async(get_snapshot)()


def _enabled_order() -> list[str]:
    listed = settings.LIBRECHAT_ENDPOINT_VARS.get("ENDPOINTS")
    if listed:
        return [item.strip() for item in listed.split(",") if item.strip()]
    return list(DEFAULT_ORDER)


def _key_available(api_key: str, api_key_secret: str) -> bool:
    if api_key_secret or api_key == USER_PROVIDED:
        return True
    return bool(api_key) and not is_unresolved(resolve(api_key))


def build_snapshot(version: str = "") -> Snapshot:
    order = _enabled_order()
    custom_order = order.index("custom") if "custom" in order else 9999
    rows = (
        Endpoint.objects.filter(enabled=True).prefetch_related("models__group", "groups").order_by("position", "name")
    )
    result: list[EndpointInfo] = []
    for row in rows:
        if row.kind == EndpointKind.CUSTOM:
            position = custom_order
        elif row.kind in order:
            position = order.index(row.kind)
        else:
            continue
        groups = {g.group: _group(g) for g in row.groups.all()}
        if row.kind == EndpointKind.AZURE_OPENAI:
            available = any(g.api_key or g.api_key_secret for g in groups.values())
        elif row.kind == EndpointKind.AZURE_ASSISTANTS:
            available = True
        elif row.kind == EndpointKind.CUSTOM:
            # As LibreChat: a custom endpoint is listed once configured, even if its ${VAR} is unset
            # (a chat then gets a clear error; the reference is never sent upstream).
            available = bool(row.api_key or row.api_key_secret)
        else:
            # Built-in endpoints are enabled by their variable (OPENAI_API_KEY …), as in LibreChat.
            available = _key_available(row.api_key, row.api_key_secret)
        if not available:
            continue
        model_rows = list(row.models.all())
        models = tuple(_model(m, row.name, row.routing) for m in model_rows if m.enabled)
        disabled = frozenset(m.model_id for m in model_rows if not m.enabled)
        result.append(replace(_endpoint(row, position, models, groups), disabled_models=disabled))
    azure = next((e for e in result if e.kind == EndpointKind.AZURE_OPENAI), None)
    if azure is not None:
        # azureAssistants models are served by azureOpenAI's groups (LibreChat's modelGroupMap).
        result = [_served_by(e, azure) if e.kind == EndpointKind.AZURE_ASSISTANTS else e for e in result]
    result.sort(key=lambda e: e.order)
    return Snapshot(version=version, endpoints={e.name: e for e in result})


def _served_by(endpoint: EndpointInfo, azure: EndpointInfo) -> EndpointInfo:
    """``endpoint`` with azureOpenAI's groups, each model with the group and deployment serving it."""
    models = tuple(
        replace(model, group=served.group, deployment_name=served.deployment_name, api_version=served.api_version)
        if model.group is None and (served := azure.model(model.id)) is not None
        else model
        for model in endpoint.models
    )
    return replace(endpoint, groups=azure.groups, models=models, by_id={m.id: m for m in models})


def _group(g: Any) -> GroupInfo:
    return GroupInfo(
        group=g.group,
        api_key=g.api_key,
        api_key_secret=g.api_key_secret,
        instance_name=g.instance_name,
        deployment_name=g.deployment_name,
        version=g.version,
        base_url=g.base_url,
        serverless=g.serverless,
        assistants=g.assistants,
        headers=dict(g.headers),
        add_params=dict(g.add_params),
        drop_params=list(g.drop_params),
    )


def _model(m: Any, endpoint: str, routing: Any) -> ModelInfo:
    return ModelInfo(
        id=m.model_id,
        label=m.label,
        context_window=m.context_window,
        max_output_tokens=m.max_output_tokens,
        vision=m.vision,
        tools=m.tools,
        streaming=m.streaming,
        fallbacks=tuple(m.fallbacks or ()),
        rate_limit=m.rate_limit,
        group=m.group.group if m.group_id and m.group else None,
        deployment_name=m.deployment_name,
        api_version=m.api_version,
        prompt_price=m.prompt_price,
        completion_price=m.completion_price,
        cached_price=m.cached_price,
        deployments=deployments_of(endpoint, m.model_id, m.deployments),
        policy=policy_of(routing, m.routing),
    )


def _endpoint(row: Endpoint, order: int, models: tuple[ModelInfo, ...], groups: dict[str, GroupInfo]) -> EndpointInfo:
    return EndpointInfo(
        id=row.pk,
        name=row.name,
        kind=row.kind,
        wire=row.wire,
        order=order,
        api_key=row.api_key,
        api_key_secret=row.api_key_secret,
        base_url=row.base_url,
        organization=row.organization,
        headers=dict(row.headers),
        add_params=dict(row.add_params),
        drop_params=list(row.drop_params),
        models_fetch=row.models_fetch,
        user_id_query=row.user_id_query,
        model_display_label=row.model_display_label,
        icon_url=row.icon_url,
        capabilities=row.capabilities,
        version=row.version,
        retrieval_models=row.retrieval_models,
        disable_builder=row.disable_builder,
        supported_ids=row.supported_ids,
        excluded_ids=row.excluded_ids,
        private_assistants=row.private_assistants,
        poll_interval_ms=row.poll_interval_ms,
        timeout_ms=row.timeout_ms,
        rate_limit=row.rate_limit,
        fallbacks=tuple(row.fallbacks or ()),
        models=models,
        groups=groups,
        by_id={m.id: m for m in models},
        custom_params=(
            params.custom_params(row.name, row.base_url, row.wire, dict(row.extra or {}))
            if row.kind == EndpointKind.CUSTOM
            else None
        ),
        disable_builder_written="disableBuilder" in (row.extra or {}),
        policy=policy_of(row.routing),
    )
