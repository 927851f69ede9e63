"""What the read API answers: endpoints in LibreChat's shape, models, model details.

Everything comes from the config snapshot (no queries when warm) and the
fetched-model cache; the per-endpoint model lists are gathered concurrently.
"""

from __future__ import annotations

import asyncio
from typing import Any

from endpoints.catalog import librechat
from endpoints.catalog.modelfetch import fetch_models
from endpoints.catalog.snapshot import EndpointInfo, ModelInfo, Snapshot
from endpoints.catalog.targets import TargetError
from endpoints.providers.http import from_sync
from usage.pricing import price_for


async def _models_for(endpoint: EndpointInfo, user_id: str | None) -> list[str]:
    """The endpoint's models; an endpoint where users bring their own key (or URL) lists with the
    caller's, never through the shared cache."""
    credentials = None
    if endpoint.models_fetch and (endpoint.user_provides_key or endpoint.user_provides_url) and user_id:
        from endpoints.keys.store import user_credentials

        try:
            credentials = await user_credentials(int(user_id), endpoint)
        except TargetError:
            credentials = None  # no usable key yet: the configured list
    return await fetch_models(endpoint, user_id=user_id, user=credentials)


async def models_by_endpoint(snapshot: Snapshot, user_id: str | None) -> dict[str, list[str]]:
    endpoints = list(snapshot.endpoints.values())
    lists = await asyncio.gather(*(_models_for(e, user_id) for e in endpoints))
    return {e.name: models for e, models in zip(endpoints, lists, strict=True)}


def models_by_endpoint_sync(snapshot: Snapshot, user_id: str | None) -> dict[str, list[str]]:
    """:func:`models_by_endpoint` for sync views: no event-loop round trip unless something is fetched."""
    if any(e.models_fetch for e in snapshot.endpoints.values()):
        return from_sync(models_by_endpoint)(snapshot, user_id)
    return {name: [m.id for m in e.models] for name, e in snapshot.endpoints.items()}


def endpoints_config(snapshot: Snapshot, models: dict[str, list[str]]) -> dict[str, Any]:
    return {name: {**librechat.entry(e), "models": models[name]} for name, e in snapshot.endpoints.items()}


def model_detail(endpoint: EndpointInfo, model_id: str) -> dict[str, Any]:
    info: ModelInfo | None = endpoint.model(model_id)
    price = price_for(
        endpoint.kind,
        model_id,
        info.prompt_price if info else None,
        info.completion_price if info else None,
        info.cached_price if info else None,
    )
    return {
        "id": model_id,
        "label": (info.label if info else "") or model_id,
        "context_window": info.context_window if info else None,
        "max_output_tokens": info.max_output_tokens if info else None,
        "capabilities": {
            "vision": info.vision if info else False,
            "tools": info.tools if info else True,
            "streaming": info.streaming if info else True,
        },
        "pricing": price.as_json(),
        "fallbacks": list((info.fallbacks if info else ()) or endpoint.fallbacks),
    }


def models_details(snapshot: Snapshot, models: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    return {name: [model_detail(e, m) for m in models[name]] for name, e in snapshot.endpoints.items()}
