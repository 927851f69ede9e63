"""``/``: what this service is; for a signed-in person, where each endpoint stands for them.

An endpoint is ``ready``; ``needs_key`` (their own key is missing or expired: /keys/);
``unset`` (a ``${VAR}`` it needs is not set: the administrator's to fix); with the result of
the last "Test connection" run in admin, where one is known.  Nothing is fetched upstream
to draw this page, and nothing secret is shown: variable names only, never values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from endpoints.auth import setup
from endpoints.auth.pages import sdk_example
from endpoints.catalog.diagnostics import last_results
from endpoints.catalog.snapshot import EndpointInfo, get_snapshot
from endpoints.keys import store as userkeys

#: A ``${VAR}`` reference, as LibreChat writes them (endpoints.config.interpolate).
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class EndpointState:
    name: str
    state: str  # ready | needs_key | unset
    models: int
    missing: list[str] = field(default_factory=list)  # unset variable names
    key_state: str = ""  # not_set | expired | set (endpoints where users bring their key)
    last_test: dict[str, Any] | None = None


def missing_variables(endpoint: EndpointInfo) -> list[str]:
    """The variables its key or URL needs that are unset (or empty: LibreChat treats them alike)."""
    values = [endpoint.api_key, endpoint.base_url, *(g.api_key for g in endpoint.groups.values())]
    names = {m.group(1) for value in values if value for m in VARIABLE.finditer(value)}
    return sorted(name for name in names if not settings.ENVIRON.get(name) or name in settings.NEVER_RESOLVED)


def endpoint_states(user: Any) -> list[EndpointState]:
    snapshot = get_snapshot()
    keys = {endpoint.name: status.state for endpoint, status in userkeys.statuses(user)}
    tests = last_results(list(snapshot.endpoints))
    states = []
    for name, endpoint in snapshot.endpoints.items():
        missing = missing_variables(endpoint)
        key_state = keys.get(name, "")
        state = "unset" if missing else "needs_key" if key_state in ("not_set", "expired") else "ready"
        states.append(EndpointState(name=name, state=state, models=len(endpoint.models), missing=missing,
                                    key_state=key_state, last_test=tests.get(name)))  # fmt: skip
    return states


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "home.html", {"setup_needed": setup.needed()})
    states = endpoint_states(request.user)
    ready = [state.name for state in states if state.state == "ready"]
    return render(request, "home.html", {"endpoints": states, "sdk": sdk_example(request, ready)})
