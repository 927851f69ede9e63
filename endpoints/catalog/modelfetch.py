"""Model lists fetched from upstreams (custom ``models.fetch``, OpenAI, Anthropic).

Cached for ``MODELS_FETCH_TTL`` seconds per base URL + key (hashed), so
endpoints sharing both share one fetch; concurrent misses in one process wait
for a single request.  Empty answers are not cached; failures fall back to
the configured list and are logged, never raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from endpoints.catalog.snapshot import EndpointInfo
from endpoints.catalog.targets import TargetError, UserCredentials, build_target
from endpoints.config.defaults import catalog_context_window, is_vision_model
from endpoints.models import EndpointKind
from endpoints.providers import get_provider_class
from endpoints.providers.base import Target
from endpoints.providers.errors import ProviderError
from endpoints.providers.openai import OpenAIProvider

log = logging.getLogger(__name__)

_inflight: dict[str, asyncio.Future[list[str]]] = {}


def openai_filter(models: list[str]) -> list[str]:
    """LibreChat's filter for api.openai.com: chat models only, instruct models last."""
    keep = [
        m
        for m in models
        if ("gpt-" in m or "text-davinci-003" in m or _is_o_series(m))
        and not any(bad in m for bad in ("audio", "realtime", "image", "tts", "transcribe", "search"))
    ]
    return [m for m in keep if "instruct" not in m] + [m for m in keep if "instruct" in m]


def _is_o_series(model: str) -> bool:
    return len(model) > 1 and model[0] == "o" and model[1].isdigit()


def _cache_key(base_url: str, api_key: str, user_id: str | None) -> str:
    digest = hashlib.sha256(f"{base_url}\0{api_key}\0{user_id or ''}".encode()).hexdigest()[:32]
    return f"endpoints:fetched-models:{digest}"


async def fetch_models(
    endpoint: EndpointInfo,
    *,
    user_id: str | None = None,
    user: UserCredentials | None = None,
    target: Target | None = None,
) -> list[str]:
    """The models this endpoint lists: fetched where configured, else the configured ones.

    ``target`` is the endpoint's, already built for this caller (a chat's route), if at hand.
    """
    configured = [m.id for m in endpoint.models]
    if not endpoint.models_fetch:
        return configured
    if target is None:
        try:
            target = build_target(endpoint, None, user)
        except TargetError:
            return configured
    query_user = user_id if endpoint.user_id_query else None
    uncached = user is not None  # a user's own key: never shared through the cache
    key = _cache_key(target.base_url, target.api_key, query_user)
    if not uncached:
        cached = await cache.aget(key)
        if cached:
            return _enabled(endpoint, list(cached))
    future = _inflight.get(key)
    if future is None:
        future = asyncio.ensure_future(_fetch(endpoint, target, query_user))
        _inflight[key] = future
        future.add_done_callback(lambda _f: _inflight.pop(key, None))
    fetched = await asyncio.shield(future)
    if not fetched:
        return configured
    if not uncached:
        await cache.aset(key, fetched, timeout=settings.MODELS_FETCH_TTL)
    return _enabled(endpoint, fetched)


def _enabled(endpoint: EndpointInfo, models: list[str]) -> list[str]:
    """What the upstream lists, but for the models an administrator disabled."""
    disabled = endpoint.disabled_models
    return [m for m in models if m not in disabled] if disabled else models


async def _fetch(endpoint: EndpointInfo, target: Target, user_id: str | None) -> list[str]:
    provider = get_provider_class(target.kind)(target)
    try:
        if user_id and isinstance(provider, OpenAIProvider):
            models = await provider.list_models(user=user_id)
        else:
            models = await provider.list_models()
    except ProviderError as exc:
        log.warning("fetching models for %s failed (%s): %s; using the configured list", endpoint.name, exc.kind, exc)
        return []
    if endpoint.kind == EndpointKind.OPENAI and "api.openai.com" in target.base_url:
        models = openai_filter(models)
    return capped(endpoint, models)


def capped(endpoint: EndpointInfo, models: list[str]) -> list[str]:
    """At most ``MODELS_FETCH_MAX`` ids, each a short printable name: an upstream (a user's own base
    URL, say) cannot fill the read API, the caches or a label set with what it lists."""
    models = [m for m in models if isinstance(m, str) and 0 < len(m) <= 255 and m.isprintable()]
    if len(models) > settings.MODELS_FETCH_MAX:
        log.warning("%s lists %d models; keeping the first %d (MODELS_FETCH_MAX)", endpoint.name, len(models),
                    settings.MODELS_FETCH_MAX)  # fmt: skip
        models = models[: settings.MODELS_FETCH_MAX]
    return models


@dataclass(frozen=True, slots=True)
class RefreshResult:
    ok: bool
    message: str


async def refresh_endpoint_models(endpoint: EndpointInfo) -> RefreshResult:
    """Admin action: ask the upstream now and store what it lists as ``fetched`` models."""
    from asgiref.sync import sync_to_async

    from endpoints.models import EndpointModel, Source

    try:
        target = build_target(endpoint, None)
    except TargetError as exc:
        return RefreshResult(False, exc.message)
    provider = get_provider_class(target.kind)(target)
    try:
        listed = await provider.list_models()
    except ProviderError as exc:
        return RefreshResult(False, f"the upstream answered {exc.kind}: {exc}")
    if endpoint.kind == EndpointKind.OPENAI and "api.openai.com" in target.base_url:
        listed = openai_filter(listed)
    listed = capped(endpoint, listed)
    if not listed:
        return RefreshResult(False, "the upstream listed no models; nothing changed")

    def store() -> int:
        known = set(EndpointModel.objects.filter(endpoint_id=endpoint.id).values_list("model_id", flat=True))
        new = [m for m in listed if m not in known]
        start = len(known)
        EndpointModel.objects.bulk_create(
            [
                EndpointModel(
                    endpoint_id=endpoint.id,
                    model_id=m,
                    source=Source.FETCHED,
                    position=start + i,
                    vision=is_vision_model(m),
                    context_window=catalog_context_window(m, endpoint.kind),
                )
                for i, m in enumerate(new)
            ]
        )
        if new:
            from endpoints.catalog.snapshot import bump_version

            bump_version()
        return len(new)

    added = await sync_to_async(store)()
    return RefreshResult(True, f"the upstream lists {len(listed)} model(s); {added} new one(s) added")
