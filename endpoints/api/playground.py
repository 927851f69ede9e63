"""``/playground/``: chat with any enabled endpoint from the browser and see what the answer cost.

The endpoints, their models and whether the signed-in person still has to set a key of their
own are rendered into the page (options plus a ``json_script`` blob), so it works without an
extra fetch.  Only names and key *states* reach the page, never a key, a base URL or a header.
The chat itself is ``POST /api/chat`` from the page's script (session cookie + same-origin check).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from endpoints.api import listing
from endpoints.catalog.snapshot import get_snapshot
from endpoints.keys import store as userkeys
from endpoints.providers.http import from_sync


@dataclass(frozen=True, slots=True)
class PlaygroundEndpoint:
    name: str
    models: list[str]
    key_state: str  # "admin" (configured by the administrator) | "set" | "not_set" | "expired"

    @property
    def needs_key(self) -> bool:
        return self.key_state in ("not_set", "expired")

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "models": self.models, "keyState": self.key_state}


def playground_endpoints(user: object) -> list[PlaygroundEndpoint]:
    """Every enabled endpoint in display order, with its models and ``user``'s key state."""
    snapshot = get_snapshot()
    models = from_sync(listing.models_by_endpoint)(snapshot, str(user.pk))  # type: ignore[attr-defined]
    states = {endpoint.name: status.state for endpoint, status in userkeys.statuses(user)}
    return [
        PlaygroundEndpoint(name=name, models=list(models.get(name, [])), key_state=states.get(name, "admin"))
        for name in snapshot.endpoints
    ]


@login_required
@require_GET
@ensure_csrf_cookie
def playground(request: HttpRequest) -> HttpResponse:
    endpoints = playground_endpoints(request.user)
    requested = request.GET.get("endpoint", "")
    selected = next((e for e in endpoints if e.name == requested), endpoints[0] if endpoints else None)
    context = {
        "endpoints": endpoints,
        "selected": selected,
        "playground_data": [e.as_json() for e in endpoints],
    }
    return render(request, "playground.html", context)
