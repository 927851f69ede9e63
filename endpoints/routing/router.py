"""What a chat asks of routing, per model it tries (the requested one, then each fallback):

1. :func:`choose`: the model's deployments to try, in order, from one read of the shared cache
   (none for an endpoint that is not tracked); :class:`CoolingDown` when every one is cooling
   down, so the chat goes to its fallbacks without calling any;
2. :func:`claim` before trying a half-open deployment: only the one request that wins its probe
   tries it, the others pass to the next;
3. :func:`failed` when a deployment fails before its first token (or :func:`broke` after it), or
   :func:`opened` when it answered: a probe that answered ends the cooldown everywhere;
4. :func:`ended` when the chat settles (least busy counts open streams).

Costs on the hot path: one cache read per model tried (none with the in-process cache's thread
hop); a success writes nothing unless it ended a cooldown, or the strategy counts streams (two
writes) or latency (one); a failure writes its counts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings

from core.errors import ApiError
from endpoints.catalog.deployments import Deployment, Policy
from endpoints.catalog.snapshot import EndpointInfo
from endpoints.routing import state
from endpoints.routing.pick import Pick, order

log = logging.getLogger(__name__)

#: Failures that say something about the deployment (not about the request, nor the model id).
COUNTED = frozenset({"upstream_error", "upstream_timeout", "upstream_rate_limited", "invalid_api_key"})


class CoolingDown(ApiError):
    """Every deployment of the model is cooling down: the chat's fallbacks answer, with the
    reason ``cooling_down``; without one, this is the answer (502, ``Retry-After``)."""

    def __init__(self, endpoint: str, model: str, seconds: float) -> None:
        wait = max(1, math.ceil(seconds))
        super().__init__("upstream_error", f"{endpoint}/{model} failed repeatedly and is cooling down; try again "
                         f"in {wait} s.", headers={"Retry-After": str(wait)}, endpoint=endpoint,
                         retry_after=wait)  # fmt: skip


@dataclass(slots=True)
class Choice:
    """One deployment to try, with what routing needs to record about it."""

    deployment: Deployment
    policy: Policy
    tracked: bool
    probe_until: float | None = None
    ttft: float | None = None  # its moving average when read (lowest latency)
    alone: bool = False  # its model's only deployment
    refused: bool = False  # marked failing_auth when read (an answer clears the mark)
    busy: bool = False  # counted in its open streams (released by ended())


def tracked(endpoint: EndpointInfo) -> bool:
    return not (endpoint.user_provides_key or endpoint.user_provides_url or endpoint.is_assistants)


async def choose(endpoint: EndpointInfo, model_id: str) -> list[Choice]:
    deployments, policy = endpoint.deployments(model_id)
    if not tracked(endpoint):
        return [Choice(deployments[0], policy, tracked=False)]
    busy, ttft = policy.strategy == "least-busy", policy.strategy == "lowest-latency"
    keys = [d.key for d in deployments]
    healths = await state.call(state.read, keys, busy, ttft, default=[state.Health()] * len(keys))
    picks, until = order(deployments, healths, policy, time.time())
    if not picks:
        raise CoolingDown(endpoint.name, model_id, (until or time.time()) - time.time())
    return [_choice(pick, policy, len(deployments) == 1) for pick in picks]


def _choice(pick: Pick, policy: Policy, alone: bool) -> Choice:
    return Choice(pick.deployment, policy, tracked=True, probe_until=pick.probe_until, ttft=pick.health.ttft,
                  alone=alone, refused=pick.health.auth is not None)  # fmt: skip


def _probe_lease() -> float:
    # The probe's answer is awaited for up to the first-token timeout; a worker killed mid-probe
    # lets another probe after this.
    return min(settings.UPSTREAM_FIRST_TOKEN_TIMEOUT, 120) + 5


async def claim(choice: Choice) -> bool:
    """True when this request may try ``choice`` (always, unless it is half-open and another
    request, of any worker, took its probe)."""
    if choice.probe_until is None:
        return True
    won = await state.call(state.take_probe, choice.deployment.key, choice.probe_until, _probe_lease(), default=True)
    if won:
        log.info("routing: probing %s after its cooldown", choice.deployment.key)
    return won


async def failed(choice: Choice, kind: str, message: str, retry_after: float | None = None) -> None:
    """``choice`` failed before its first token with the contract's error ``kind``."""
    if not choice.tracked or kind not in COUNTED:
        return
    record = await state.call(state.record_failure, choice.deployment.key, choice.policy, kind, message,
                              retry_after, choice.probe_until is not None, choice.alone, default=None)  # fmt: skip
    if record is None:
        if kind == "invalid_api_key":
            log.error("routing: %s rejected its API key (%s): fix the key", choice.deployment.key, message)
        return
    seconds = round(record["until"] - record["since"])
    if record["auth"]:
        # Retrying cannot help: someone must fix the key. Loud, once per cooldown.
        log.error("routing: %s rejected its API key (%s); taken out of every pick for %d s: fix the key",
                  choice.deployment.key, message, seconds)  # fmt: skip
    else:
        log.warning("routing: %s cooling down for %d s after %s", choice.deployment.key, seconds, kind)


async def broke(choice: Choice, kind: str) -> None:
    """``choice`` failed after its first token (counted like a failure to open)."""
    await failed(choice, kind, "the stream broke after it began")


async def opened(choice: Choice, ttft_seconds: float) -> None:
    if not choice.tracked:
        return
    key = choice.deployment.key
    if choice.probe_until is not None or choice.refused:
        await state.call(state.recovered, key, default=None)
        log.warning("routing: %s answered its probe; back in every pick", key)
    if choice.policy.strategy == "least-busy":
        await state.call(state.add_busy, key, 1, default=None)
        choice.busy = True
    elif choice.policy.strategy == "lowest-latency":
        await state.call(state.note_ttft, key, choice.ttft, ttft_seconds, default=None)


async def ended(choice: Choice | None) -> None:
    if choice is not None and choice.busy:
        choice.busy = False
        await state.call(state.add_busy, choice.deployment.key, -1, default=None)
