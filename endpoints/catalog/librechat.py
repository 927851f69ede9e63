"""An endpoint's entry of ``/api/endpoints`` in LibreChat's ``TConfig`` shape.

As LibreChat builds it (packages/api endpoints config; data-schemas assistants defaults):

- a custom endpoint: ``type``, ``userProvide``, ``userProvideURL``, and ``customParams``,
  ``modelDisplayLabel``, ``iconURL`` when there is a value (LibreChat leaves them out
  otherwise); ``provider: anthropic`` makes ``customParams.defaultParamsEndpoint`` anthropic;
- ``assistants``: its yaml section's values over LibreChat's defaults (``retrievalModels``,
  ``capabilities``, ``version`` "2"); without a section, LibreChat's generated defaults (the
  version is then the number 2, as LibreChat sends it);
- ``azureAssistants``: ``version`` "1"; with a yaml section, that section's values over the
  schema defaults, otherwise the three Azure capabilities and no retrieval models.

Checked against LibreChat's own code on a corpus of files in tests/test_librechat_parity.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from endpoints.models import EndpointKind

if TYPE_CHECKING:
    from endpoints.catalog.snapshot import EndpointInfo

log = logging.getLogger(__name__)

#: librechat-data-provider's defaultRetrievalModels (0.8.524), duplicate included.
DEFAULT_RETRIEVAL_MODELS = [
    "gpt-4o",
    "o1-preview-2024-09-12",
    "o1-preview",
    "o1-mini-2024-09-12",
    "o1-mini",
    "o3-mini",
    "chatgpt-4o-latest",
    "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "gpt-4-turbo-preview",
    "gpt-3.5-turbo-0125",
    "gpt-4-0125-preview",
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0125",
    "gpt-4-turbo",
    "gpt-4-0125",
    "gpt-4-1106",
]
#: assistantEndpointSchema's default capabilities (and generateConfig's).
DEFAULT_CAPABILITIES = ["code_interpreter", "image_vision", "retrieval", "actions", "tools"]
#: azureAssistantsDefaults() (data-schemas app/assistants.ts).
DEFAULT_AZURE_CAPABILITIES = ["tools", "actions", "code_interpreter"]


def entry(endpoint: EndpointInfo) -> dict[str, Any]:
    """This endpoint's entry of LibreChat's endpoints config (TConfig), without ``models``."""
    data: dict[str, Any] = {}
    if endpoint.kind == EndpointKind.CUSTOM:
        data["type"] = "custom"
    data["userProvide"] = endpoint.user_provides_key
    if endpoint.kind == EndpointKind.CUSTOM or endpoint.base_url:
        data["userProvideURL"] = endpoint.user_provides_url
    data["order"] = endpoint.order
    if endpoint.kind == EndpointKind.CUSTOM:
        if endpoint.custom_params is not None:
            data["customParams"] = endpoint.custom_params
        if endpoint.model_display_label:
            data["modelDisplayLabel"] = endpoint.model_display_label
        if endpoint.icon_url:
            data["iconURL"] = endpoint.icon_url
    elif endpoint.kind == EndpointKind.ASSISTANTS:
        data["retrievalModels"] = endpoint.retrieval_models or DEFAULT_RETRIEVAL_MODELS
        data["capabilities"] = endpoint.capabilities if endpoint.capabilities is not None else DEFAULT_CAPABILITIES
        data["version"] = endpoint.version or 2  # no yaml section: generateConfig's number
    elif endpoint.kind == EndpointKind.AZURE_ASSISTANTS:
        section = bool(endpoint.version)
        retrieval = endpoint.retrieval_models or (DEFAULT_RETRIEVAL_MODELS if section else None)
        if retrieval:
            data["retrievalModels"] = retrieval
        defaults = DEFAULT_CAPABILITIES if section else DEFAULT_AZURE_CAPABILITIES
        data["capabilities"] = endpoint.capabilities if endpoint.capabilities is not None else defaults
        data["version"] = endpoint.version or "1"
    assistants = endpoint.kind in (EndpointKind.ASSISTANTS, EndpointKind.AZURE_ASSISTANTS)
    if assistants and (endpoint.disable_builder or endpoint.disable_builder_written):
        data["disableBuilder"] = endpoint.disable_builder
    return data
