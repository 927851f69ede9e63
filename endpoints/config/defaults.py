"""Facts LibreChat ships: default model lists, vision-model name patterns, and
model metadata from the genai-prices catalog."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.conf import settings

#: LibreChat's default endpoint order when ENDPOINTS is unset.
DEFAULT_ORDER = ["openAI", "agents", "assistants", "azureAssistants", "azureOpenAI", "google", "anthropic", "bedrock"]

#: LibreChat's ``visionModels`` (data-provider config.ts): a model whose id
#: contains one of these accepts images.
VISION_PATTERNS = (
    "grok-4",
    "grok-3",
    "grok-2-vision",
    "grok-vision",
    "gpt-4.5",
    "gpt-4o",
    "gpt-4o-mini",
    "o1",
    "gpt-4.1",
    "gpt-4-turbo",
    "gpt-4-vision",
    "o4-mini",
    "o3",
    "gpt-5",
    "chat-latest",
    "claude-3",
    "claude-sonnet-4",
    "claude-opus-4",
    "claude-haiku-4",
    "claude-sonnet-5",
    "claude-opus-5",
    "claude-fable",
    "gemini-exp",
    "gemini",
    "gemma",
    "llava",
    "llama-4",
    "llama-3.2",
    "llama3.2-vision",
    "pixtral",
    "mistral-medium-3",
    "mistral-small-3",
    "qwen-vl",
    "qwen2-vl",
    "moondream",
    "bakllava",
    "minicpm-v",
)
#: Exceptions LibreChat makes before matching the patterns.
NOT_VISION = ("gpt-4-turbo-preview", "o1-mini", "o3-mini")


def is_vision_model(model_id: str) -> bool:
    if any(bad in model_id for bad in NOT_VISION):
        return False
    return any(pattern in model_id for pattern in VISION_PATTERNS)


@cache
def default_models() -> dict[str, list[str]]:
    path = Path(settings.BASE_DIR) / "fixtures" / "default_models.json"
    data = json.loads(path.read_text())
    return {key: value for key, value in data.items() if not key.startswith("_")}


#: Which genai-prices provider prices each endpoint kind's models.
CATALOG_PROVIDER = {
    "openAI": "openai",
    "azureOpenAI": "azure",
    "assistants": "openai",
    "azureAssistants": "azure",
    "anthropic": "anthropic",
    "google": "google",
}


@cache
def catalog_context_window(model_id: str, kind: str) -> int | None:
    """The context window the genai-prices catalog knows for a model, or None."""
    from genai_prices import data_snapshot

    provider_id = CATALOG_PROVIDER.get(kind)
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model_id, None, provider_id, None)
    except LookupError:  # the catalog does not know this model
        return None
    return info.context_window
