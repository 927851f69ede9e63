"""Azure OpenAI: the OpenAI chat completions protocol at Azure's URLs, with an ``api-key`` header.

Three ways to address a deployment, as LibreChat's azureOpenAI groups do
(https://www.librechat.ai/docs/configuration/librechat_yaml/object_structure/azure_openai):

* instance: ``https://{instance}.openai.azure.com/openai/deployments/{deployment}/chat/completions``
  (https://learn.microsoft.com/azure/ai-services/openai/reference#chat-completions);
* base URL: a group ``baseURL`` that may hold ``${INSTANCE_NAME}`` / ``${DEPLOYMENT_NAME}``,
  filled per request, then ``/chat/completions``;
* serverless: ``baseURL`` is the whole completions URL.

All take ``?api-version=…``. Azure sends an extra first chunk with empty ``choices`` and
``prompt_filter_results``; the OpenAI parser already skips chunks without choices. Usage in
streams (``stream_options``) needs api-version 2024-09-01-preview or later; for older versions
list ``stream_options`` in the endpoint's dropParams and usage is estimated.
"""

from __future__ import annotations

from urllib.parse import quote

from endpoints.providers.errors import ProviderError
from endpoints.providers.http import get_json
from endpoints.providers.openai import OpenAIProvider, _map_status

__all__ = ["AzureOpenAIProvider"]

# Module-level so tests can point instance mode at a local fake.
INSTANCE_URL = "https://{instance}.openai.azure.com"
# Used when a target names no version: the current GA data-plane version.
DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAIProvider):
    def _version(self) -> str:
        return self.target.azure_api_version or DEFAULT_API_VERSION

    def _resource(self) -> str:
        instance = self.target.azure_instance
        if not instance:
            raise ProviderError("invalid_request", "The Azure endpoint has no instance name configured.")
        return INSTANCE_URL.format(instance=quote(instance, safe=""))

    def _chat_url(self) -> str:
        t = self.target
        version = quote(self._version(), safe="")
        if t.azure_serverless:
            url = t.base_url.rstrip("/")
            if t.azure_api_version and "api-version=" not in url:
                url += ("&" if "?" in url else "?") + f"api-version={version}"
            return url
        deployment = quote(t.azure_deployment or "", safe="")
        if t.base_url:
            base = (
                t.base_url.replace("${INSTANCE_NAME}", t.azure_instance or "")
                .replace("${DEPLOYMENT_NAME}", t.azure_deployment or "")
                .rstrip("/")
            )
        else:
            if not deployment:
                raise ProviderError("invalid_request", "The Azure endpoint has no deployment name configured.")
            base = f"{self._resource()}/openai/deployments/{deployment}"
        return f"{base}/chat/completions?api-version={version}"

    def _auth_headers(self) -> dict[str, str]:
        return {"api-key": self.target.api_key}

    async def list_models(self, *, user: str | None = None) -> list[str]:
        """The resource's models (https://learn.microsoft.com/rest/api/azureopenai/models/list),
        those that can chat. Only instance mode knows its resource URL."""
        t = self.target
        if t.azure_serverless or t.base_url:
            raise ProviderError("invalid_request", "Models can only be listed for an Azure instance, not a base URL.")
        data = await get_json(
            self.target,
            f"{self._resource()}/openai/models",
            headers=self._headers(streaming=False),
            map_status=_map_status,
            params={"api-version": self._version()},
        )
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError("upstream_error", "The provider sent a malformed model list.", status=200)
        return [
            item["id"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and (item.get("capabilities") or {}).get("chat_completion", True)
        ]
