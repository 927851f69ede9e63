"""Helpers for tests that drive a provider adapter against a fake."""

from __future__ import annotations

from typing import Any

import pytest

from endpoints.providers.base import ChatRequest, Provider
from endpoints.providers.errors import ProviderError

__all__ = ["collect", "failure"]


async def collect(provider: Provider, request: ChatRequest) -> list[Any]:
    """All events of one streamed answer."""
    return [event async for event in provider.stream_chat(request)]


async def failure(provider: Provider, request: ChatRequest, key: str = "test-key") -> tuple[ProviderError, list[Any]]:
    """The ProviderError a stream ends with, and the events before it. Checks that its message
    carries neither the key nor the fake's error body (all of which say "fake")."""
    events: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream_chat(request):
            events.append(event)
    assert key not in info.value.message
    assert "fake" not in info.value.message.lower()
    return info.value, events
