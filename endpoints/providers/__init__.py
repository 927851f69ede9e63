"""Provider adapters, one module per wire protocol, found through an explicit registry.

``get_provider_class(kind)`` imports the adapter lazily, so a process that never talks to a
vendor never imports its module. Kinds are wire protocols, not endpoint names:
``endpoints.catalog.targets`` maps LibreChat endpoint types onto them (``openAI`` and ``custom``
-> ``openai``, ``azureOpenAI`` -> ``azure``, ``anthropic``, ``google``, ``assistants``,
``azureAssistants``; a custom endpoint's ``provider: anthropic`` -> ``anthropic``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpoints.providers.base import Provider, Target

__all__ = ["PROVIDERS", "get_provider", "get_provider_class"]

PROVIDERS: dict[str, str] = {
    "openai": "endpoints.providers.openai.OpenAIProvider",
    "azure": "endpoints.providers.azure.AzureOpenAIProvider",
    "anthropic": "endpoints.providers.anthropic.AnthropicProvider",
    "google": "endpoints.providers.google.GoogleProvider",
    # The Assistants API (threads and runs), on OpenAI and on Azure.
    "assistants": "endpoints.providers.assistants.AssistantsProvider",
    "azureAssistants": "endpoints.providers.assistants.AssistantsProvider",
}


def get_provider_class(kind: str) -> type[Provider]:
    try:
        path = PROVIDERS[kind]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"unknown provider kind {kind!r}; known kinds: {known}") from None
    module, _, name = path.rpartition(".")
    cls: type[Provider] = getattr(import_module(module), name)
    return cls


def get_provider(target: Target) -> Provider:
    """An adapter for ``target`` (``target.kind`` picks the class)."""
    return get_provider_class(target.kind)(target)
