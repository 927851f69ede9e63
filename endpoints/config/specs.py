"""Validated configuration, as plain dataclasses: what seeding turns into rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class ModelSpec:
    model_id: str
    source: str
    label: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None
    vision: bool | None = None
    tools: bool | None = None
    streaming: bool | None = None
    fallbacks: list[str] = field(default_factory=list)
    #: (yaml path, line) of each fallback entry, for error messages.
    fallback_where: list[tuple[str, int | None]] = field(default_factory=list)
    rate_limit: dict[str, int] | None = None
    #: Equivalent targets serving this model, and how to pick among them (endpoints/config/routing.py).
    deployments: list[dict[str, Any]] = field(default_factory=list)
    routing: dict[str, Any] | None = None
    #: The yaml path of the model item (for cross-checks' messages).
    where: str = ""
    group: str | None = None
    deployment_name: str = ""
    api_version: str = ""
    prompt_price: Decimal | None = None
    completion_price: Decimal | None = None
    cached_price: Decimal | None = None
    #: The extension keys written for this model (exported back as an object item).
    overrides: dict[str, Any] = field(default_factory=dict)
    position: int = 0


@dataclass
class GroupSpec:
    group: str
    api_key: str
    position: int
    instance_name: str = ""
    deployment_name: str = ""
    version: str = ""
    base_url: str = ""
    serverless: bool = False
    assistants: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    add_params: dict[str, Any] = field(default_factory=dict)
    drop_params: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EndpointSpec:
    name: str
    kind: str
    source: str
    api_key: str = ""
    wire: str = "openai"
    base_url: str = ""
    organization: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    add_params: dict[str, Any] = field(default_factory=dict)
    drop_params: list[str] = field(default_factory=list)
    models_fetch: bool = False
    user_id_query: bool = False
    model_display_label: str = ""
    icon_url: str = ""
    capabilities: list[str] | None = None
    version: str = ""
    retrieval_models: list[str] | None = None
    disable_builder: bool = False
    supported_ids: list[str] | None = None
    excluded_ids: list[str] | None = None
    private_assistants: bool = False
    poll_interval_ms: int | None = None
    timeout_ms: int | None = None
    rate_limit: dict[str, int] | None = None
    routing: dict[str, Any] | None = None
    fallbacks: list[str] = field(default_factory=list)
    fallback_where: list[tuple[str, int | None]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    models: list[ModelSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)


@dataclass
class ConfigSpec:
    version: str
    endpoints: list[EndpointSpec]
    balance: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def endpoint(self, name: str) -> EndpointSpec | None:
        return next((e for e in self.endpoints if e.name == name), None)
