"""Model names at the gateway: ``"<endpoint>/<model id>"``, or a bare model id when exactly one
endpoint offers it; the list ``GET /v1/models`` answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.errors import ApiError
from endpoints.catalog.modelfetch import fetch_models
from endpoints.catalog.snapshot import EndpointInfo, Snapshot

#: ``created`` of the listed models: OpenAI's field is required, we know no better date.
STARTED = int(time.time())


def chat_endpoints(snapshot: Snapshot) -> list[EndpointInfo]:
    """The endpoints a chat completion can go to (assistants endpoints need an assistant, not a chat)."""
    return [e for e in snapshot.endpoints.values() if not e.is_assistants]


async def offered_models(snapshot: Snapshot, user_id: str) -> dict[str, list[str]]:
    """What each chat endpoint offers this user (the lists of ``GET /api/models``)."""
    endpoints = chat_endpoints(snapshot)
    lists = await asyncio.gather(*(fetch_models(e, user_id=user_id) for e in endpoints))
    return {e.name: models for e, models in zip(endpoints, lists, strict=True)}


def model_ids(offered: dict[str, list[str]]) -> dict[str, str]:
    """``{gateway model id: owning endpoint}``: every ``endpoint/model``, then the unambiguous bare ids."""
    ids: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    for name, models in offered.items():
        for model in models:
            ids.setdefault(f"{name}/{model}", name)
            names = owners.setdefault(model, [])
            if name not in names:
                names.append(name)
    for model, names in owners.items():
        if len(names) == 1:
            ids.setdefault(model, names[0])
    return ids


def _prefixed(snapshot: Snapshot, requested: str) -> tuple[EndpointInfo, str] | None:
    """The endpoint named before the first '/' of ``requested`` (longest name wins), and the rest."""
    best: tuple[EndpointInfo, str] | None = None
    for endpoint in chat_endpoints(snapshot):
        prefix = endpoint.name + "/"
        if requested.startswith(prefix) and len(requested) > len(prefix):
            if best is None or len(endpoint.name) > len(best[0].name):
                best = (endpoint, requested[len(prefix) :])
    return best


async def resolve_model(snapshot: Snapshot, requested: str, user_id: str) -> tuple[str, str]:
    """(endpoint, model id) for a gateway ``model``.

    ``<endpoint>/<model>`` wins when that endpoint offers the model (the common
    case costs no I/O when the model is configured); otherwise the whole string
    is tried as a bare id (model ids may hold slashes); a prefix that names an
    endpoint but no offered model is left to the session, which answers
    ``model_not_available`` or takes the endpoint's fallbacks, as ``/api/chat`` does.
    """
    prefixed = _prefixed(snapshot, requested)
    if prefixed is not None:
        endpoint, model = prefixed
        if endpoint.model(model) is not None or endpoint.user_provides_url:
            return endpoint.name, model
        if model in await fetch_models(endpoint, user_id=user_id):
            return endpoint.name, model
    offered = await offered_models(snapshot, user_id)
    owners = [
        name for name, models in offered.items() if requested in models or snapshot.endpoints[name].model(requested)
    ]
    if len(owners) == 1:
        return owners[0], requested
    if len(owners) > 1:
        candidates = [f"{name}/{requested}" for name in owners]
        raise ApiError("invalid_request", f"Several endpoints offer {requested!r}; name one: {', '.join(candidates)}.",
                       errors={"model": [f"Ambiguous; use one of {', '.join(candidates)}."]},
                       candidates=candidates)  # fmt: skip
    if prefixed is not None:
        return prefixed[0].name, prefixed[1]
    raise ApiError("model_not_available", f"No endpoint offers the model {requested!r}; GET /v1/models lists them.",
                   model=requested)  # fmt: skip


def model_object(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": owner}
