"""Which limits apply to a chat, and how a refusal reads (``rate_limit_exceeded``, ``concurrent_limit``)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.admission import RateLimit
from core.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rule:
    """``limit`` requests (or tokens) per ``window`` seconds for ``name`` within ``scope``."""

    scope: str  # "ip", "user", "endpoint", "model" or "deployment"
    name: str  # the client IP, the user id, the endpoint name, "endpoint/model" or "endpoint/model/deployment"
    limit: int
    window: int
    unit: str = "requests"  # or "tokens"


def ip_key(address: str) -> str:
    """The bucket of a client address: IPv6 clients own a whole /64, as in django-ratelimit."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        mask = getattr(settings, "RATELIMIT_IPV6_MASK", 64)
        return str(ipaddress.ip_network(f"{ip}/{mask}", strict=False).network_address)
    return str(ip)


def message_rules(user_id: int, client_ip: str) -> list[Rule]:
    """LibreChat's message limiters (windows in minutes, as LibreChat's variables)."""
    rules = []
    if settings.LIMIT_MESSAGE_IP:
        rules.append(Rule("ip", ip_key(client_ip), settings.MESSAGE_IP_MAX, settings.MESSAGE_IP_WINDOW * 60))
    if settings.LIMIT_MESSAGE_USER:
        rules.append(Rule("user", str(user_id), settings.MESSAGE_USER_MAX, settings.MESSAGE_USER_WINDOW * 60))
    return rules


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def configured_rules(scope: str, name: str, spec: Any) -> list[Rule]:
    """A ``rateLimit`` mapping as rules; admin-edited JSON that makes no sense limits nothing."""
    if not isinstance(spec, dict):
        return []
    window = _positive(spec.get("windowSeconds", 60))
    if window is None:
        log.warning("ignoring the rateLimit of %s %s: windowSeconds is not a positive integer", scope, name)
        return []
    rules = []
    for unit in ("requests", "tokens"):
        limit = _positive(spec.get(unit))
        if limit is not None:
            rules.append(Rule(scope, name, limit, window, unit))
    return rules


def target_rules(rate_limits: tuple[RateLimit, ...]) -> list[Rule]:
    """The target's ``rateLimit`` mappings (the endpoint's, then the model item's) as rules."""
    return [rule for limit in rate_limits for rule in configured_rules(limit.scope, limit.name, limit.spec)]


def _span(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


def exceeded(rule: Rule, retry_after: int) -> ApiError:
    seconds = max(1, retry_after)
    who = {
        "ip": "from your address",
        "user": "from your account",
        "endpoint": f"for the endpoint {rule.name!r}",
        "model": f"for the model {rule.name!r}",
        "deployment": f"for the deployment {rule.name!r}",
    }[rule.scope]
    message = (
        f"Too many {rule.unit} {who}: the limit is {rule.limit} {rule.unit} per {_span(rule.window)}. "
        f"Try again in {seconds} s."
    )
    context: dict[str, Any] = {"limit": rule.limit, "window_seconds": rule.window, "scope": rule.scope,
                               "unit": rule.unit}  # fmt: skip
    if rule.scope == "endpoint":
        context["endpoint"] = rule.name
    elif rule.scope == "model":
        context["endpoint"], context["model"] = rule.name.split("/", 1)
    elif rule.scope == "deployment":  # endpoint/model/name: a deployment's name has no "/"
        target, _, context["deployment"] = rule.name.rpartition("/")
        context["endpoint"], context["model"] = target.split("/", 1)
    return ApiError("rate_limit_exceeded", message, status=429, headers={"Retry-After": str(seconds)}, **context)


def concurrent_limit(maximum: int) -> ApiError:
    return ApiError(
        "concurrent_limit",
        f"Only {maximum} message(s) at a time: wait for an answer to finish (or stop it), then send again.",
        status=429,
        limit=maximum,
    )
