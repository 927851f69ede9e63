"""One endpoint of every wire format against the fakes (custom, openAI, anthropic, google,
azureOpenAI), as the gateway tests configure them; and tokens for them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import make_user, seed

CONFIG = """
version: 1.3.14
endpoints:
  azureOpenAI:
    groups:
      - group: east
        apiKey: test-key
        instanceName: east
        baseURL: '{azure}/openai/deployments/${{DEPLOYMENT_NAME}}'
        version: '2024-10-21'
        models:
          gpt-4o: {{deploymentName: gpt4o-prod}}
  custom:
    - name: fakeai
      apiKey: test-key
      baseURL: '{openai}'
      models:
        default: ['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo', {{name: 'flaky', fallbacks: ['anthropic/claude-sonnet-4-5']}}]
"""

#: (model as the client sends it, the fake that answers): one per endpoint type.
ENDPOINTS = [
    pytest.param("fakeai/gpt-4o", "fake_openai", id="custom"),
    pytest.param("anthropic/claude-sonnet-4-5", "fake_anthropic", id="anthropic"),
    pytest.param("google/gemini-2.5-flash", "fake_google", id="google"),
    pytest.param("azureOpenAI/gpt-4o", "fake_azure", id="azureOpenAI"),
    pytest.param("openAI/gpt-4o", "fake_openai", id="openAI"),
]


def configure(settings: Any, fake_openai: Any, fake_anthropic: Any, fake_google: Any, fake_azure: Any) -> None:
    urls = {"OPENAI_REVERSE_PROXY": fake_openai.base_url, "ANTHROPIC_REVERSE_PROXY": fake_anthropic.base_url,
            "GOOGLE_REVERSE_PROXY": fake_google.base_url}  # fmt: skip
    env = {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}",
           "GOOGLE_KEY": "${GOOGLE_KEY}", "GOOGLE_MODELS": "gemini-2.5-flash", **urls}  # fmt: skip
    settings.LIBRECHAT_ENDPOINT_VARS = env
    settings.ENVIRON = {"OPENAI_API_KEY": "test-key", "ANTHROPIC_API_KEY": "test-key", "GOOGLE_KEY": "test-key",
                        **urls}  # fmt: skip
    seed(CONFIG.format(openai=fake_openai.base_url, azure=fake_azure.url), env=env)


def service_token(username: str = "librechat") -> str:
    """A new service account's token, marked by an admin as a service token."""
    from endpoints.auth import personal
    from endpoints.models import TokenKind

    made = personal.create(make_user(username), "LibreChat")
    made.token.kind = TokenKind.SERVICE
    made.token.save(update_fields=["kind"])
    return made.key


def personal_token(username: str = "alice") -> str:
    from endpoints.auth import personal

    return personal.create(make_user(username), "laptop").key
