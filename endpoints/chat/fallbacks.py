"""The targets a chat may try, in order: the requested ``(endpoint, model)`` then its fallbacks."""

from __future__ import annotations

from endpoints.catalog.snapshot import EndpointInfo


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
