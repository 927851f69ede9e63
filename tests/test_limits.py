"""Rate limits and concurrency slots (endpoints/limits/) against the configured cache:
LocMemCache on the SQLite leg, Redis on the PostgreSQL + Redis leg."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core import checks as django_checks
from django.core.cache import cache
from django.core.management import call_command

from core.admission import Estimate, RateLimit, Ticket
from core.caller import Caller
from core.errors import ApiError
from core.outcome import Outcome
from endpoints.chat import admission
from endpoints.chat.fallbacks import fallback_chain
from endpoints.limits import checks, counters, rules, slots
from tests.fakes import closed_port_url

# --- stand-ins for the config snapshot and the chat session ------------------------------------


@dataclass
class Model:
    id: str
    rate_limit: Any = None
    fallbacks: tuple[str, ...] = ()


@dataclass
class Endpoint:
    name: str
    rate_limit: Any = None
    fallbacks: tuple[str, ...] = ()
    models: dict[str, Model] = field(default_factory=dict)

    def model(self, model_id: str) -> Model | None:
        return self.models.get(model_id)


@dataclass
class Snapshot:
    endpoints: dict[str, Endpoint]

    def get(self, name: str) -> Endpoint | None:
        return self.endpoints.get(name)


@dataclass
class Call:
    endpoint: str = "fakeai"
    model: str = "gpt-4o"


@dataclass
class Session:
    call: Call = field(default_factory=Call)
    caller: Caller = field(default_factory=lambda: Caller(id=1, username="alice"))
    client_ip: str = "203.0.113.7"


def snapshot(endpoint_limit: Any = None, model_limit: Any = None) -> Snapshot:
    models = {"gpt-4o": Model("gpt-4o", rate_limit=model_limit), "gpt-4o-mini": Model("gpt-4o-mini")}
    return Snapshot({"fakeai": Endpoint("fakeai", rate_limit=endpoint_limit, models=models)})


def ticket(session: Session, snap: Snapshot, *, fallback: bool = False) -> Ticket:
    """What the chat hands the checks (endpoints.chat.admission.ticket), from the stand-ins."""
    endpoint = snap.get(session.call.endpoint)
    assert endpoint is not None
    model = endpoint.model(session.call.model)
    limits_ = [RateLimit("endpoint", endpoint.name, endpoint.rate_limit)] if endpoint.rate_limit else []
    if model is not None and model.rate_limit:
        limits_.append(RateLimit("model", f"{endpoint.name}/{model.id}", model.rate_limit))
    return Ticket(request_id="req_test", caller=session.caller, client_ip=session.client_ip, endpoint=endpoint.name,
                  model=session.call.model, estimate=Estimate(10, 10, None), rate_limits=tuple(limits_),
                  attempt=1 if fallback else 0)  # fmt: skip


@dataclass
class Held:
    """What one admission holds, settled together as the chat does."""

    holds: list[Any]

    async def settle(self, outcome: Outcome) -> None:
        await admission.settle(self.holds, outcome)


async def admit(session: Session, snap: Snapshot, *, fallback: bool = False) -> Held:
    return Held(await admission.admit(ticket(session, snap, fallback=fallback)))


def ok(endpoint: str = "fakeai", model: str = "gpt-4o", tokens: tuple[int, int] = (12, 7)) -> Outcome:
    return Outcome(status="ok", answered_endpoint=endpoint, answered_model=model, prompt_tokens=tokens[0],
                   completion_tokens=tokens[1])  # fmt: skip


@pytest.fixture(autouse=True)
def quiet_limits(settings):
    """Only the limits a test turns on; the limits' checks only (budgets are test_budgets.py's)."""
    settings.LIMIT_MESSAGE_IP = False
    settings.LIMIT_MESSAGE_USER = False
    settings.LIMIT_CONCURRENT_MESSAGES = False
    settings.CHAT_ADMISSION_CHECKS = [path for path in settings.CHAT_ADMISSION_CHECKS if ".limits." in path]


async def refused(session: Session, snap: Snapshot) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await admit(session, snap)
    return caught.value


async def admitted(session: Session, snap: Snapshot, n: int) -> list[Held]:
    return [await admit(session, snap) for _ in range(n)]


def slots_held(user_id: int = 1, maximum: int = 10) -> int:
    return len(cache.get_many([slots.SLOT_KEY.format(user_id, n) for n in range(maximum)]))


# --- LibreChat's message limiters -----------------------------------------------------------


async def test_it_refuses_the_message_after_the_ip_limit(settings):
    settings.LIMIT_MESSAGE_IP, settings.MESSAGE_IP_MAX, settings.MESSAGE_IP_WINDOW = True, 3, 1
    await admitted(Session(), snapshot(), 3)
    error = await refused(Session(), snapshot())
    assert error.type == "rate_limit_exceeded" and error.status == 429
    assert error.context == {"limit": 3, "window_seconds": 60, "scope": "ip", "unit": "requests"}
    assert 1 <= int(error.headers["Retry-After"]) <= 60
    assert "203.0.113.7" not in error.message


async def test_it_counts_each_address_apart_and_an_ipv6_client_by_its_64(settings):
    settings.LIMIT_MESSAGE_IP, settings.MESSAGE_IP_MAX = True, 1
    await admitted(Session(client_ip="203.0.113.7"), snapshot(), 1)
    await admitted(Session(client_ip="203.0.113.8"), snapshot(), 1)
    await admitted(Session(client_ip="2001:db8:1:2::1"), snapshot(), 1)
    assert (await refused(Session(client_ip="2001:db8:1:2:ffff::9"), snapshot())).context["scope"] == "ip"
    await admitted(Session(client_ip="2001:db8:1:3::1"), snapshot(), 1)


async def test_it_limits_users_only_when_asked(settings):
    settings.MESSAGE_USER_MAX, settings.MESSAGE_USER_WINDOW = 2, 5
    await admitted(Session(), snapshot(), 5)  # LIMIT_MESSAGE_USER is off by default, as in LibreChat
    settings.LIMIT_MESSAGE_USER = True
    await admitted(Session(client_ip="198.51.100.1"), snapshot(), 1)
    await admitted(Session(client_ip="198.51.100.2"), snapshot(), 1)
    error = await refused(Session(client_ip="198.51.100.3"), snapshot())
    assert error.context == {"limit": 2, "window_seconds": 300, "scope": "user", "unit": "requests"}
    await admitted(Session(caller=Caller(id=2, username="bob")), snapshot(), 2)


# --- per-endpoint and per-model limits -----------------------------------------------------------


async def test_it_limits_requests_per_endpoint_across_its_models():
    snap = snapshot(endpoint_limit={"requests": 2, "windowSeconds": 30})
    await admitted(Session(), snap, 1)
    await admitted(Session(call=Call(model="gpt-4o-mini")), snap, 1)
    error = await refused(Session(), snap)
    assert error.context == {"limit": 2, "window_seconds": 30, "scope": "endpoint", "unit": "requests",
                             "endpoint": "fakeai"}  # fmt: skip
    assert 1 <= int(error.headers["Retry-After"]) <= 30


async def test_it_limits_requests_per_model():
    snap = snapshot(model_limit={"requests": 1, "windowSeconds": 60})
    await admitted(Session(), snap, 1)
    error = await refused(Session(), snap)
    assert (error.context["scope"], error.context["endpoint"], error.context["model"]) == ("model", "fakeai", "gpt-4o")
    await admitted(Session(call=Call(model="gpt-4o-mini")), snap, 3)


async def test_it_limits_tokens_from_recorded_usage():
    snap = snapshot(endpoint_limit={"tokens": 30, "windowSeconds": 60})
    for _ in range(2):  # 0, then 19 tokens recorded: both under 30
        held = await admit(Session(), snap)
        await held.settle(ok())
    error = await refused(Session(), snap)  # 38 >= 30
    assert error.context == {"limit": 30, "window_seconds": 60, "scope": "endpoint", "unit": "tokens",
                             "endpoint": "fakeai"}  # fmt: skip
    assert "tokens" in error.message


async def test_it_counts_tokens_only_where_they_were_answered():
    snap = snapshot(model_limit={"tokens": 10, "windowSeconds": 60})
    held = await admit(Session(), snap)
    await held.settle(ok(endpoint="claude", model="claude-sonnet-4-5", tokens=(500, 500)))  # a fallback answered
    held = await admit(Session(), snap)
    await held.settle(Outcome(status="error", error_type="upstream_error"))  # nothing used
    held = await admit(Session(), snap)
    await held.settle(ok(tokens=(8, 2)))
    assert (await refused(Session(), snap)).context["unit"] == "tokens"


async def test_it_ignores_rate_limits_that_make_no_sense():
    for spec in ({"requests": "20"}, {"requests": 0, "windowSeconds": 60}, {"requests": 5, "windowSeconds": -1},
                 ["requests", 5], {"requests": True}):  # fmt: skip
        assert rules.configured_rules("endpoint", "x", spec) == []
    assert rules.configured_rules("endpoint", "x", {"requests": 5}) == [rules.Rule("endpoint", "x", 5, 60)]


async def test_it_admits_exactly_the_limit_under_concurrency():
    snap = snapshot(endpoint_limit={"requests": 20, "windowSeconds": 3600})
    results = await asyncio.gather(
        *(admit(Session(caller=Caller(id=n, username=str(n))), snap) for n in range(200)),
        return_exceptions=True,
    )
    refusals = [r for r in results if isinstance(r, ApiError)]
    assert len(refusals) == 180 and {r.type for r in refusals} == {"rate_limit_exceeded"}


async def test_it_admits_a_fallback_target_against_its_own_limits():
    snap = snapshot(model_limit={"requests": 1, "tokens": 100, "windowSeconds": 60})
    other = Session(call=Call(model="gpt-4o-mini"))
    other.call = Call(model="gpt-4o")  # its fallback target
    held = await admit(other, snap, fallback=True)
    assert [type(h) for h in held.holds] == [checks.TokenHold]  # the chat's slot is its own admission's
    with pytest.raises(ApiError) as caught:
        await admit(other, snap, fallback=True)
    assert caught.value.context["scope"] == "model"
    other.call = Call(model="gpt-4o-mini")
    assert (await admit(other, snap, fallback=True)).holds == []


# --- concurrency slots -------------------------------------------------------------------------


async def test_it_caps_open_chats_per_user_and_frees_the_slot_on_settle(settings):
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 2
    first, second = await admitted(Session(), snapshot(), 2)
    error = await refused(Session(), snapshot())
    assert (error.type, error.status, error.context) == ("concurrent_limit", 429, {"limit": 2})
    other = await admit(Session(caller=Caller(id=2, username="bob")), snapshot())
    await first.settle(Outcome(status="client_aborted"))
    third = await admit(Session(), snapshot())
    assert slots_held() == 2
    for held in (second, third, other):
        await held.settle(ok())
    assert slots_held() == 0


async def test_it_gives_out_exactly_the_slots_under_concurrency(settings):
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 3
    results = await asyncio.gather(*(admit(Session(), snapshot()) for _ in range(50)), return_exceptions=True)
    held = [r for r in results if isinstance(r, Held)]
    assert len(held) == 3 and all(
        isinstance(r, ApiError) and r.type == "concurrent_limit" for r in results if r not in held
    )
    for h in held:
        await h.settle(ok())
    assert slots_held() == 0


async def test_it_releases_the_slot_when_a_later_limit_refuses(settings):
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 1
    snap = snapshot(endpoint_limit={"requests": 1, "windowSeconds": 60})
    held = await admit(Session(), snap)
    await held.settle(ok())
    assert (await refused(Session(), snap)).type == "rate_limit_exceeded"
    assert slots_held() == 0


def test_it_lets_a_lease_lapse_when_its_worker_dies():
    held = slots.take_slot(7, 1, 1, cache)  # taken by a worker that then died: never renewed
    assert held is not None and slots.take_slot(7, 1, 1, cache) is None
    deadline = time.monotonic() + 5
    while slots.take_slot(7, 1, 60, cache) is None:
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.2)


async def test_it_renews_the_lease_while_the_chat_runs(settings):
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX, settings.CONCURRENT_LEASE_SECONDS = True, 1, 1
    held = await admit(Session(), snapshot())
    await asyncio.sleep(2.5)  # more than twice the lease: only renewals keep it
    assert (await refused(Session(), snapshot())).type == "concurrent_limit"
    await held.settle(ok())
    assert slots_held() == 0


async def test_it_releases_a_slot_taken_while_the_client_went_away(settings, monkeypatch):
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(counters.counter_cache(), LocMemCache):
        pytest.skip("in-process counters run inline, so nothing can cancel them midway (runs on the Redis leg)")
    settings.LIMIT_CONCURRENT_MESSAGES, settings.CONCURRENT_MESSAGE_MAX = True, 1
    real = checks._take_slot

    def slow_take(*args: Any) -> Any:
        lease = real(*args)
        time.sleep(0.3)  # the client disconnects while the slot is being taken
        return lease

    monkeypatch.setattr(checks, "_take_slot", slow_take)
    task = asyncio.ensure_future(admit(Session(), snapshot()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while slots_held():
        assert time.monotonic() < deadline, "the orphaned slot was not released"
        await asyncio.sleep(0.05)


# --- the cache is down: fail closed ------------------------------------------------------------


@pytest.fixture
def cache_down(settings):
    """The counters' cache is a Redis that refuses connections (the default cache still works)."""
    location = closed_port_url().replace("http://", "redis://") + "/0"
    settings.CACHES = {**settings.CACHES, "limits-down": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": location,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }}  # fmt: skip
    settings.RATELIMIT_USE_CACHE = "limits-down"


@pytest.mark.parametrize("limit", ["ip", "concurrent", "endpoint"])
async def test_it_fails_closed_when_the_cache_is_down(settings, cache_down, limit):
    settings.LIMIT_MESSAGE_IP = limit == "ip"
    settings.LIMIT_CONCURRENT_MESSAGES = limit == "concurrent"
    snap = snapshot(endpoint_limit={"requests": 5, "windowSeconds": 60} if limit == "endpoint" else None)
    error = await refused(Session(), snap)
    assert (error.type, error.status) == ("rate_limit_unavailable", 503)
    assert "redis" not in error.message.lower() and "127.0.0.1" not in error.message


class Broken:
    """A cache whose every call fails as a lost connection does."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("connection refused")

        return fail


async def test_it_fails_closed_when_the_cache_raises(settings, monkeypatch):
    settings.LIMIT_MESSAGE_IP = True
    monkeypatch.setattr(counters, "counter_cache", Broken)
    monkeypatch.setattr(checks, "counter_cache", Broken)
    monkeypatch.setattr("django_ratelimit.core.caches", {"default": Broken()})
    assert (await refused(Session(), snapshot())).type == "rate_limit_unavailable"


# --- fallback chains ----------------------------------------------------------------------------


def test_it_builds_the_fallback_chain_from_the_model_else_the_endpoint():
    endpoint = Endpoint("a", fallbacks=("b/x", "c/y"), models={"m": Model("m", fallbacks=("b/z",)), "n": Model("n")})
    assert fallback_chain(endpoint, "m") == [("a", "m"), ("b", "z")]  # type: ignore[arg-type]
    assert fallback_chain(endpoint, "n") == [("a", "n"), ("b", "x"), ("c", "y")]  # type: ignore[arg-type]
    assert fallback_chain(endpoint, "unlisted") == [("a", "unlisted"), ("b", "x"), ("c", "y")]  # type: ignore[arg-type]


def test_it_skips_malformed_and_repeated_fallbacks():
    endpoint = Endpoint("a", fallbacks=("nonsense", "a/m", "b/x", "b/x", "/y", "c/", "c/org/model"))
    assert fallback_chain(endpoint, "m") == [("a", "m"), ("b", "x"), ("c", "org/model")]  # type: ignore[arg-type]


# --- django-ratelimit's own checks ------------------------------------------------------------


def test_it_passes_django_ratelimits_checks_on_this_legs_cache():
    call_command("check", "--tag", "caches", "--fail-level", "WARNING")


def test_it_needs_no_silencing_on_redis_and_silences_only_the_in_process_cache(settings):
    settings.SILENCED_SYSTEM_CHECKS = []
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    assert [m.id for m in django_checks.run_checks(tags=["caches"])] == []
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert {m.id for m in django_checks.run_checks(tags=["caches"])} == {
        "django_ratelimit.E003",
        "django_ratelimit.W001",
    }
