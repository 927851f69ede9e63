"""Proactive health checks (off unless a model's ``routing.healthCheck`` is set) and "test now".

A check is one tiny chat (``max_tokens: 1``) or a models list call to one deployment.  Its
result feeds the same shared state as the chats: a failure cools the deployment down at once (a
deliberate probe, not a sample of traffic), a success ends its cooldown.  The last result of each
deployment is kept for the health page.

Every worker runs :func:`run_forever` (started by its first chat), but a tick checks only in the
worker that takes the tick's lease (an atomic ``add`` in the shared cache): one worker at a time
checks, not every process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from endpoints.catalog.deployments import Deployment, Policy
from endpoints.catalog.snapshot import EndpointInfo, Snapshot, aget_snapshot
from endpoints.catalog.targets import TargetError, build_target, deployment_target
from endpoints.providers import get_provider_class
from endpoints.providers.base import ChatRequest
from endpoints.providers.errors import ProviderError
from endpoints.routing import state
from endpoints.routing.router import tracked

log = logging.getLogger(__name__)

TICK_SECONDS = 5  # how often a worker looks for checks that are due (the smallest interval)
LEASE_KEY = "routing:checks:lease"
RESULT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    latency_ms: int
    message: str
    kind: str = ""  # the contract's error type when it failed


def result_key(key: str) -> str:
    return f"routing:check:{state.digest(key)}"


def checked(endpoint: EndpointInfo) -> list[tuple[str, Deployment, Policy]]:
    """The endpoint's deployments with proactive checks on: (model id, deployment, policy)."""
    if not tracked(endpoint):
        return []
    return [(m.id, d, m.policy) for m in endpoint.models if m.policy.health_interval for d in m.deployments]


async def check(snapshot: Snapshot, endpoint: EndpointInfo, model_id: str, deployment: Deployment,
                policy: Policy) -> CheckResult:  # fmt: skip
    """Check one deployment now; record the result in its shared health."""
    started = time.monotonic()
    result = await _probe(snapshot, endpoint, model_id, deployment, policy)
    if tracked(endpoint):
        if result.ok:
            await state.call(state.recovered, deployment.key, default=None)
        elif result.kind:
            alone = len(endpoint.deployments(model_id)[0]) == 1
            await state.call(state.record_failure, deployment.key, policy, result.kind, result.message, None, True,
                             alone, default=None)  # fmt: skip
    entry = {"ok": result.ok, "at": time.time(), "latency_ms": result.latency_ms, "message": result.message}
    await cache.aset(result_key(deployment.key), entry, RESULT_SECONDS)
    log.info("routing: checked %s in %d ms: %s", deployment.key, int((time.monotonic() - started) * 1000),
             result.message)  # fmt: skip
    return result


async def _probe(snapshot: Snapshot, endpoint: EndpointInfo, model_id: str, deployment: Deployment,
                 policy: Policy) -> CheckResult:  # fmt: skip
    try:
        if deployment.is_default:
            target, upstream_model = build_target(endpoint, endpoint.model(model_id)), model_id
        else:
            target, upstream_model = deployment_target(endpoint, model_id, deployment, None, snapshot.get)
    except TargetError as exc:
        return CheckResult(False, 0, f"{exc.kind}: {exc.message}")
    provider = get_provider_class(target.kind)(target)
    started = time.monotonic()
    try:
        if policy.health_method == "models":
            listed = await provider.list_models()
            message = f"listed {len(listed)} models"
        else:
            request = ChatRequest(model=upstream_model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)
            await provider.chat(request)
            message = f"{upstream_model} answered"
    except ProviderError as exc:
        return CheckResult(False, int((time.monotonic() - started) * 1000), f"{exc.kind}: {exc.message}", exc.kind)
    latency = int((time.monotonic() - started) * 1000)
    return CheckResult(True, latency, f"{message} in {latency} ms")


async def run_due(snapshot: Snapshot) -> int:
    """Check what is due, if this worker takes the tick's lease; how many were checked."""
    due = [(e, *item) for e in snapshot.endpoints.values() for item in checked(e)]
    if not due or not await cache.aadd(LEASE_KEY, uuid.uuid4().hex, TICK_SECONDS - 1):
        return 0
    found = await cache.aget_many([result_key(d.key) for _, _, d, _ in due])
    now = time.time()
    todo = []
    for endpoint, model_id, deployment, policy in due:
        last = found.get(result_key(deployment.key))
        if last is None or last["at"] + (policy.health_interval or 0) <= now + 0.5:
            todo.append(check(snapshot, endpoint, model_id, deployment, policy))
    await asyncio.gather(*todo)
    return len(todo)


async def run_forever() -> None:
    while True:
        try:
            await run_due(await aget_snapshot())
        except Exception:
            log.exception("routing: the health checks failed; trying again next tick")
        await asyncio.sleep(TICK_SECONDS)


_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
_looked_at: set[tuple[int, str]] = set()  # (loop, configuration version) seen without checks to run


def ensure_running(snapshot: Snapshot) -> None:
    """Start this worker's checks on the running loop, once, when some model asks for them
    (looked up once per configuration version: a chat pays a set lookup)."""
    loop = asyncio.get_running_loop()
    seen = (id(loop), snapshot.version)
    if loop in _tasks or seen in _looked_at:
        return
    if not any(checked(e) for e in snapshot.endpoints.values()):
        if len(_looked_at) > 1000:
            _looked_at.clear()
        _looked_at.add(seen)
        return
    for old in [other for other in _tasks if other.is_closed()]:
        del _tasks[old]
    _tasks[loop] = loop.create_task(run_forever())


async def test_now(endpoint_name: str, model_id: str, deployment_name: str) -> CheckResult:
    """The health page's "test now": check one deployment at once (whether or not checks are on)."""
    snapshot = await aget_snapshot()
    endpoint = snapshot.get(endpoint_name)
    if endpoint is None:
        return CheckResult(False, 0, f"there is no enabled endpoint named {endpoint_name!r}")
    deployments, policy = endpoint.deployments(model_id)
    deployment = next((d for d in deployments if d.name == deployment_name), None)
    if deployment is None:
        return CheckResult(False, 0, f"{endpoint_name}/{model_id} has no deployment {deployment_name!r}")
    return await check(snapshot, endpoint, model_id, deployment, policy)


def last_checks(keys: list[str]) -> dict[str, dict[str, Any]]:
    found = cache.get_many([result_key(k) for k in keys])
    return {k: found[result_key(k)] for k in keys if result_key(k) in found}
