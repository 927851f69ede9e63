"""The health of every endpoint, model and deployment, for staff (``/health/models/`` and
``GET /api/health/models``).

State and failures to open come from the shared cache (``state.py``); answered requests, their
latency and time to first token from the usage rows of the last hour (one query, staff only, never
on a chat's path).  Error rate = (failures to open + answered requests that ended in an error) /
(failures to open + answered requests).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from endpoints.catalog.deployments import DEFAULT_NAME, Deployment, Policy
from endpoints.catalog.snapshot import Snapshot
from endpoints.routing import checks, state
from endpoints.routing.router import tracked
from usage.models import Status, UsageRecord

WINDOWS = (5, 60)  # minutes
BUCKET_MINUTES = 5  # the inline chart's bars: twelve for the hour
MAX_ROWS = 50_000  # usage rows read for the hour (the newest)


@dataclass
class Figures:
    """One deployment's requests in one window."""

    answered: int = 0
    errors: int = 0  # answered, then failed
    failed_to_open: int = 0
    latency: list[int] = field(default_factory=list)
    ttft: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        tried = self.answered + self.failed_to_open
        return {
            "requests": tried,
            "errors": self.errors + self.failed_to_open,
            "error_rate": round((self.errors + self.failed_to_open) / tried, 4) if tried else None,
            "latency_p50_ms": int(statistics.median(self.latency)) if self.latency else None,
            "ttft_p50_ms": int(statistics.median(self.ttft)) if self.ttft else None,
        }


def _usage(since_minutes: int) -> dict[tuple[str, str, str], list[tuple[float, str, int | None, int | None]]]:
    since = timezone.now() - timedelta(minutes=since_minutes)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since)
        .exclude(status=Status.PENDING)
        .order_by("-created_at")
        .values_list(
            "answered_endpoint",
            "answered_model",
            "answered_deployment",
            "created_at",
            "status",
            "latency_ms",
            "ttft_ms",
        )[:MAX_ROWS]
    )
    found: dict[tuple[str, str, str], list[tuple[float, str, int | None, int | None]]] = {}
    for endpoint, model, deployment, created, status, latency, ttft in rows:
        if endpoint:
            key = (endpoint, model, deployment or DEFAULT_NAME)
            found.setdefault(key, []).append((created.timestamp(), status, latency, ttft))
    return found


def _chart(errors_per_minute: list[int], answered: list[tuple[float, str, int | None, int | None]],
           now: float) -> list[dict[str, int]]:  # fmt: skip
    """Requests and errors per 5 minutes over the hour, oldest first."""
    buckets = [{"requests": 0, "errors": 0} for _ in range(60 // BUCKET_MINUTES)]
    for index, count in enumerate(errors_per_minute):  # oldest minute first
        bucket = buckets[index // BUCKET_MINUTES]
        bucket["requests"] += count
        bucket["errors"] += count
    for at, status, _, _ in answered:
        age = int((now - at) // 60)
        if 0 <= age < 60:
            bucket = buckets[(59 - age) // BUCKET_MINUTES]
            bucket["requests"] += 1
            bucket["errors"] += status == Status.ERROR
    return buckets


def _deployment(deployment: Deployment, policy: Policy, detail: dict[str, Any], check: dict[str, Any] | None,
                answered: list[tuple[float, str, int | None, int | None]], now: float) -> dict[str, Any]:  # fmt: skip
    health = state.Health(down=detail["down"], auth=detail["auth"])
    down = detail["down"] or {}
    windows = {}
    for minutes in WINDOWS:
        figures = Figures(failed_to_open=sum(detail["errors"][-minutes:]))
        for at, status, latency, ttft in answered:
            if now - at <= minutes * 60:
                figures.answered += 1
                figures.errors += status == Status.ERROR
                if latency is not None and status == Status.OK:
                    figures.latency.append(latency)
                if ttft is not None and status == Status.OK:
                    figures.ttft.append(ttft)
        windows[f"{minutes}m"] = figures.as_dict()
    last = detail["last"]
    return {
        "name": deployment.name,
        "key": deployment.key,
        "target": deployment.target or deployment.group or ("another key" if deployment.api_key else "") or "itself",
        "weight": deployment.weight,
        "state": health.state(now) if policy.cooldowns or detail["auth"] else "healthy",
        "until": down.get("until"),
        "reason": down.get("kind"),
        "open_streams": detail["busy"],
        "ttft_average_ms": int(detail["ttft"] * 1000) if detail["ttft"] is not None else None,
        "windows": windows,
        "last_error": {"type": last["kind"], "at": last["at"], "message": last["message"]} if last else None,
        "last_check": check,
        "chart": _chart(detail["errors"], answered, now),
    }


def health(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Every tracked endpoint, its models and their deployments."""
    listed = [
        (endpoint, model.id, model.deployments or endpoint.deployments(model.id)[0], model.policy)
        for endpoint in snapshot.endpoints.values()
        if tracked(endpoint)
        for model in endpoint.models
    ]
    keys = [d.key for _, _, deployments, _ in listed for d in deployments]
    details = state.details(keys)
    last_checks = checks.last_checks(keys)
    usage = _usage(max(WINDOWS))
    now = time.time()
    result: dict[str, dict[str, Any]] = {}
    for endpoint, model_id, deployments, policy in listed:
        entry = result.setdefault(endpoint.name, {"name": endpoint.name, "kind": endpoint.kind, "models": []})
        entry["models"].append({
            "id": model_id,
            "strategy": policy.strategy,
            "cooldowns": policy.cooldowns,
            "health_check_seconds": policy.health_interval,
            "deployments": [
                _deployment(d, policy, details[d.key], last_checks.get(d.key),
                            usage.get((endpoint.name, model_id, d.name), []), now)
                for d in deployments
            ],
        })  # fmt: skip
    return list(result.values())
