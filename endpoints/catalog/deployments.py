"""A model's deployments and routing policy, as the snapshot holds them.

Every model has at least one deployment: without a ``deployments`` list, the model itself is
the one deployment, named :data:`DEFAULT_NAME`.  :attr:`Deployment.key` names its shared health
state (``endpoint/model/deployment``), the same in every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from endpoints.config.routing import DEFAULTS, STRATEGIES

DEFAULT_NAME = "default"


@dataclass(frozen=True, slots=True)
class Policy:
    strategy: str = "weighted-random"
    cooldowns: bool = True
    allowed_fails: int = 3
    window_seconds: int = 60
    cooldown_seconds: int = 30
    auth_cooldown_seconds: int = 300
    health_interval: int | None = None  # seconds between proactive checks; None: off
    health_method: str = "chat"


@dataclass(frozen=True, slots=True)
class Deployment:
    key: str  # endpoint/model/name: the shared state's name
    name: str
    weight: int = 1
    target: str = ""  # "endpoint/model": another endpoint's model
    api_key: str = ""  # a ${VAR} reference: this endpoint with another key
    base_url: str = ""
    group: str = ""  # azureOpenAI: another group's deployment
    deployment_name: str = ""
    rate_limit: dict[str, int] | None = None

    @property
    def is_default(self) -> bool:
        return not (self.target or self.api_key or self.base_url or self.group or self.deployment_name)


def _int(value: Any, default: int, minimum: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= minimum else default


def policy_of(*layers: Any) -> Policy:
    """The routing of the layers given (the endpoint's, then the model's: later keys win), over the
    defaults.  Admin-edited JSON that makes no sense falls back to the default, key by key."""
    merged = dict(DEFAULTS)
    for layer in layers:
        if isinstance(layer, dict):
            merged.update({key: value for key, value in layer.items() if key in DEFAULTS})
    check = merged["healthCheck"]
    if check is True:
        check = {}
    interval = _int(check.get("intervalSeconds"), 60, 5) if isinstance(check, dict) else None
    method = check.get("method") if isinstance(check, dict) else None
    return Policy(
        strategy=merged["strategy"] if merged["strategy"] in STRATEGIES else "weighted-random",
        cooldowns=merged["cooldowns"] is not False,
        allowed_fails=_int(merged["allowedFails"], 3, 0),
        window_seconds=_int(merged["windowSeconds"], 60, 1),
        cooldown_seconds=_int(merged["cooldownSeconds"], 30, 1),
        auth_cooldown_seconds=_int(merged["authCooldownSeconds"], 300, 1),
        health_interval=interval,
        health_method=method if method in ("chat", "models") else "chat",
    )


def deployments_of(endpoint: str, model: str, entries: Any) -> tuple[Deployment, ...]:
    """The model's deployments; entries without a usable name (admin-edited JSON) are skipped."""
    found = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            continue
        name = entry["name"]
        found.append(
            Deployment(
                key=f"{endpoint}/{model}/{name}",
                name=name,
                weight=_int(entry.get("weight"), 1, 1),
                target=str(entry.get("target") or ""),
                api_key=str(entry.get("apiKey") or ""),
                base_url=str(entry.get("baseURL") or ""),
                group=str(entry.get("group") or ""),
                deployment_name=str(entry.get("deploymentName") or ""),
                rate_limit=entry.get("rateLimit") if isinstance(entry.get("rateLimit"), dict) else None,
            )
        )
    return tuple(found) or (default_deployment(endpoint, model),)


def default_deployment(endpoint: str, model: str) -> Deployment:
    return Deployment(key=f"{endpoint}/{model}/{DEFAULT_NAME}", name=DEFAULT_NAME)
