"""Provider adapters, one module per wire protocol, found through an explicit registry.

``get_provider_class(kind)`` imports the adapter lazily, so a process that never talks to a
vendor never imports its module. Kinds are wire protocols, not endpoint names: ``chat.py`` maps
LibreChat endpoint types onto them (``openAI`` and ``custom`` -> ``openai``, ``azureOpenAI`` ->
``azure``, ``anthropic``, ``google``).
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
    # OpenAI/Azure Assistants API: chat.py picks it for assistants/azureAssistants endpoints.
    "assistants": "endpoints.providers.assistants.AssistantsProvider",
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
