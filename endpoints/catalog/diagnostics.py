"""Admin "Test connection": one tiny real request through the endpoint's adapter; the last
result of each endpoint is kept a week (the home page shows it)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from endpoints.catalog.snapshot import EndpointInfo
from endpoints.catalog.targets import TargetError, build_target
from endpoints.providers import get_provider_class
from endpoints.providers.base import ChatRequest
from endpoints.providers.errors import ProviderError

#: The last "Test connection" result, by endpoint name.
TEST_RESULT_KEY = "endpoints:last-test:"
TEST_RESULT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    ok: bool
    latency_ms: int
    message: str


async def test_connection(endpoint: EndpointInfo, model_id: str | None = None) -> ConnectionResult:
    """Ask the endpoint's first (or given) model for one token; report latency or the normalized error."""
    model_id = model_id or (endpoint.models[0].id if endpoint.models else "")
    if not model_id:
        return ConnectionResult(False, 0, "no model configured to test with")
    try:
        target = build_target(endpoint, endpoint.model(model_id))
    except TargetError as exc:
        return ConnectionResult(False, 0, f"{exc.kind}: {exc.message}")
    provider = get_provider_class(target.kind)(target)
    request = ChatRequest(model=model_id, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)
    started = time.monotonic()
    try:
        result = await provider.chat(request)
    except ProviderError as exc:
        return ConnectionResult(False, int((time.monotonic() - started) * 1000), f"{exc.kind}: {exc.message}")
    latency = int((time.monotonic() - started) * 1000)
    used = result.usage
    return ConnectionResult(
        True, latency, f"{model_id} answered in {latency} ms ({used.prompt_tokens}+{used.completion_tokens} tokens)"
    )


async def test_and_remember(endpoint: EndpointInfo) -> ConnectionResult:
    """:func:`test_connection`, its result kept for :func:`last_results`."""
    result = await test_connection(endpoint)
    await cache.aset(TEST_RESULT_KEY + endpoint.name, {"ok": result.ok, "message": result.message,
                                                       "at": timezone.now()}, TEST_RESULT_SECONDS)  # fmt: skip
    return result


def last_results(names: list[str]) -> dict[str, dict[str, Any]]:
    """The last result kept for each of these endpoints, where one is."""
    found = cache.get_many([TEST_RESULT_KEY + name for name in names])
    return {key.removeprefix(TEST_RESULT_KEY): value for key, value in found.items()}
