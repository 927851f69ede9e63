"""The shared upstream HTTP client, and one streaming upstream call with its deadlines.

One ``httpx2.AsyncClient`` per event loop (a client's pool is bound to the loop that opened its
connections; tests and workers may run several loops) on the aiohttp transport of
``endpoints/netguard``, with HTTP keep-alive, no redirects, no cookies kept and no proxy settings
from the environment.  A second one, refusing private addresses, serves base URLs that users
supplied.

:class:`UpstreamSSE` is the one place where transport errors, HTTP statuses and timeouts become
:class:`ProviderError`: adapters only build URLs, headers and bodies and parse events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx2
from asgiref.sync import AsyncToSync, async_to_sync

from endpoints.providers.base import Target
from endpoints.providers.errors import ProviderError
from endpoints.providers.sse import DEFAULT_MAX_LINE, SSEParser

__all__ = [
    "StatusMapper",
    "UpstreamSSE",
    "aclose_clients",
    "from_sync",
    "get_client",
    "get_json",
    "request_json",
    "too_large",
    "transport_error",
]

logger = logging.getLogger(__name__)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx2.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()

KEEPALIVE_EXPIRY = 30.0  # seconds an idle pooled connection is kept for reuse
MAX_ERROR_BODY = 64 * 1024  # an error body is read only to classify it, never shown
DRAIN_SECONDS = 0.5  # after the terminator, how long to wait for the body to end so the connection is reused


def _max_connections() -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, "UPSTREAM_MAX_CONNECTIONS", 1000))
    except Exception:  # settings not configured (scripts, benchmarks)
        return 1000


def _build_client(guarded: bool) -> httpx2.AsyncClient:
    size = _max_connections()
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=KEEPALIVE_EXPIRY)
    # Every connection goes through the address guard: user-supplied base URLs may
    # reach public addresses only; admin-configured ones may be private (a local
    # model server) but never a cloud-metadata address.  The transport owns the
    # pool, so the limits go to it.  No proxies or netrc from the environment, no
    # redirects (one could leave the vetted host), no cookies kept between requests.
    from endpoints.netguard import make_guarded_client

    return make_guarded_client(allow_private=not guarded, limits=limits, timeout=httpx2.Timeout(10.0))


def get_client(guarded: bool = False) -> httpx2.AsyncClient:
    """The shared client of the running event loop (``guarded=True``: the SSRF-guarded one)."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.get(loop)
    if per_loop is not None:
        client = per_loop.get(guarded)
        if client is not None and not client.is_closed:
            return client
    with _clients_lock:
        per_loop = _clients.setdefault(loop, {})
        client = per_loop.get(guarded)
        if client is None or client.is_closed:
            client = per_loop[guarded] = _build_client(guarded)
        return client


async def aclose_clients() -> None:
    """Close the running loop's clients (at shutdown, or at the end of a test's loop)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:
        per_loop = _clients.pop(loop, {})
    for client in per_loop.values():
        await client.aclose()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def from_sync(fn: Callable[_P, Awaitable[_R]]) -> Callable[_P, _R]:
    """``async_to_sync`` for sync code that calls upstreams (admin actions, sync views): on the
    server's event loop when there is one; in a loop of its own (the test client, scripts) that
    loop's clients are closed before it ends, so no pooled connection outlives its loop."""

    async def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await fn(*args, **kwargs)
        finally:
            if asyncio.get_running_loop() in AsyncToSync.loop_thread_executors:  # a loop made for this call
                await aclose_clients()

    return async_to_sync(run)


# --- Errors ---

StatusMapper = Callable[[int, httpx2.Headers, Any], ProviderError]
"""An adapter's ``_map_status(status, headers, body)``: body is the parsed JSON error body or None."""


def transport_error(exc: Exception, guarded: bool = False) -> ProviderError:
    """A connection-level failure as a ProviderError (never with the exception's text)."""
    if guarded and isinstance(exc, httpx2.ConnectError):
        from endpoints.netguard import BlockedAddressError

        if isinstance(exc, BlockedAddressError):
            return ProviderError("invalid_base_url", "The base URL points to an address that is not allowed.")
    if isinstance(exc, httpx2.ConnectTimeout):
        return ProviderError("upstream_timeout", "The provider did not accept the connection in time.", retryable=True)
    if isinstance(exc, httpx2.PoolTimeout):
        return ProviderError("upstream_timeout", "Too many open connections to the provider.", retryable=True)
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError("upstream_timeout", "The provider did not answer in time.", retryable=True)
    if isinstance(exc, httpx2.ConnectError | OSError):
        return ProviderError("upstream_error", "Could not connect to the provider.", retryable=True)
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return ProviderError("upstream_error", "The provider URL is not valid.", retryable=True)
    return ProviderError("upstream_error", "The connection to the provider failed.", retryable=True)


def _timeout(first: bool) -> ProviderError:
    if first:
        return ProviderError("upstream_timeout", "The provider did not start answering in time.", retryable=True)
    return ProviderError("upstream_timeout", "The provider stopped sending data.", retryable=True)


def _too_long(seconds: float) -> ProviderError:
    return ProviderError("upstream_timeout", f"The answer went on longer than {seconds:g} s (UPSTREAM_MAX_SECONDS) "
                         "and was cut off.", retryable=True, started=True)  # fmt: skip


def too_large(limit: int) -> ProviderError:
    return ProviderError("upstream_error", f"The provider's answer passed {limit:,} bytes (UPSTREAM_MAX_BYTES) and was "
                         "cut off.", retryable=True, started=True)  # fmt: skip


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


# --- Deadlines ---


class _Watchdog:
    """First-token and idle deadlines around awaits on the upstream, cheap enough for every chunk.

    ``asyncio.timeout()`` per chunk would push and cancel a timer per chunk; here a chunk only
    stores a float, and one timer handle lives until the deadline, rescheduling itself while data
    keeps coming. It cancels the reading task only while that task waits on the upstream (never
    while the consumer of the stream holds it between two events).
    """

    __slots__ = ("_handle", "_handle_at", "_loop", "_task", "deadline", "fired", "waiting")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = 0.0
        self.deadline = 0.0
        self.waiting = False
        self.fired = False

    def arm(self, seconds: float) -> None:
        self.deadline = self._loop.time() + seconds
        self._task = asyncio.current_task()
        self.waiting = True
        if self._handle is None:
            self._schedule()
        elif self._handle_at > self.deadline:  # a shorter deadline than the pending timer's
            self._handle.cancel()
            self._schedule()

    def _schedule(self) -> None:
        self._handle_at = self.deadline
        self._handle = self._loop.call_at(self.deadline, self._check)

    def _check(self) -> None:
        self._handle = None
        if not self.waiting:
            return  # re-armed by the next wait
        if self._loop.time() + 0.001 >= self.deadline:
            self.fired = True
            if self._task is not None:
                self._task.cancel()
        else:
            self._schedule()  # data came meanwhile: the deadline moved on

    def expired(self) -> bool:
        """After a CancelledError: True if it was ours (then it is absorbed), False if it came from outside."""
        if not self.fired:
            return False
        self.fired = False
        task = self._task
        return task is None or task.uncancel() == 0

    def close(self) -> None:
        self.waiting = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


# --- One streaming call ---


class UpstreamSSE:
    """POST a JSON body and iterate the answer's SSE events as ``(event, data)`` pairs.

    ``async with UpstreamSSE(...) as events: async for event, data in events: ...``. Entering
    sends the request and checks the status (an error status becomes the ProviderError that the
    adapter's ``map_status`` returns); leaving closes the response, which also closes the
    connection unless the body was read to its end (see :meth:`drain`). The first-token deadline
    runs from sending the request to the first body bytes, then the idle deadline between chunks.
    A body that ends inside an event raises ``upstream_error``; a clean end is the adapter's to
    judge, as it knows its vendor's terminator.
    """

    __slots__ = (
        "_ends_at",
        "_events",
        "_first",
        "_guarded",
        "_index",
        "_iter",
        "_parser",
        "_received",
        "_request",
        "_response",
        "_timeouts",
        "_watchdog",
    )

    def __init__(
        self,
        target: Target,
        url: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any],
        map_status: StatusMapper,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self._request = (url, headers, body, map_status)
        self._timeouts = target.timeouts
        self._guarded = target.guarded
        self._parser = SSEParser(max_line)
        self._events: list[tuple[str, str]] = []
        self._index = 0
        self._first = True  # no body byte received yet: the first-token deadline applies
        self._received = 0  # body bytes so far (UPSTREAM_MAX_BYTES)
        self._ends_at = 0.0  # the loop time the whole answer must be done by (UPSTREAM_MAX_SECONDS)
        self._response: httpx2.Response | None = None
        self._iter: Any = None
        self._watchdog: _Watchdog | None = None

    async def __aenter__(self) -> UpstreamSSE:
        url, headers, body, map_status = self._request
        t = self._timeouts
        client = get_client(self._guarded)
        request = client.build_request(
            "POST",
            url,
            headers=headers,
            content=_dumps(body),
            # Reads are bounded by the watchdog below, which also covers waiting for the headers.
            timeout=httpx2.Timeout(connect=t.connect, read=None, write=t.idle, pool=t.connect),
        )
        watchdog = self._watchdog = _Watchdog()
        self._ends_at = asyncio.get_running_loop().time() + t.total
        watchdog.arm(min(t.first_token, t.total))
        try:
            self._response = await client.send(request, stream=True)
        except asyncio.CancelledError:
            watchdog.close()
            if watchdog.expired():
                raise _timeout(True) from None
            raise
        except httpx2.HTTPError as exc:
            watchdog.close()
            if watchdog.expired():
                raise _timeout(True) from None
            raise transport_error(exc, self._guarded) from None
        finally:
            watchdog.waiting = False
        response = self._response
        try:
            encoded = response.headers.get("content-encoding", "identity") != "identity"
            self._iter = (response.aiter_bytes() if encoded else response.aiter_raw()).__aiter__()
            status = response.status_code
            if status >= 300:
                logger.debug("upstream answered HTTP %s", status)
                raise map_status(status, response.headers, _load_json(await self._read_all(MAX_ERROR_BODY)))
            if response.headers.get("content-type", "").startswith("application/json"):
                raise ProviderError("upstream_error", "The provider answered without streaming.", status=status)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
        response, self._response = self._response, None
        if response is not None:
            try:
                await response.aclose()
            except httpx2.HTTPError:
                pass  # closing a broken connection

    async def _chunk(self, seconds: float) -> bytes | None:
        """The next body chunk, or None at the end of the body."""
        watchdog = self._watchdog
        assert watchdog is not None
        left = self._ends_at - asyncio.get_running_loop().time()
        if left <= 0:
            raise _too_long(self._timeouts.total)
        watchdog.arm(min(seconds, left))
        try:
            chunk: bytes = await self._iter.__anext__()
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            if watchdog.expired():
                raise self._expired(seconds, left) from None
            raise
        except httpx2.HTTPError as exc:
            if watchdog.expired():
                raise self._expired(seconds, left) from None
            raise transport_error(exc, self._guarded) from None
        finally:
            watchdog.waiting = False
        self._received += len(chunk)
        if self._received > self._timeouts.max_bytes:
            raise too_large(self._timeouts.max_bytes)
        return chunk

    def _expired(self, seconds: float, left: float) -> ProviderError:
        return _too_long(self._timeouts.total) if left < seconds else _timeout(self._first)

    async def _read_all(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await self._chunk(self._timeouts.first_token if self._first else self._timeouts.idle)
            if chunk is None:
                break
            self._first = False
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)[:limit]

    def __aiter__(self) -> UpstreamSSE:
        return self

    async def __anext__(self) -> tuple[str, str]:
        events = self._events
        if self._index < len(events):
            event = events[self._index]
            self._index += 1
            return event
        while True:
            chunk = await self._chunk(self._timeouts.first_token if self._first else self._timeouts.idle)
            if chunk is None:
                if not self._parser.ended_cleanly:
                    raise ProviderError("upstream_error", "The provider's stream ended mid-event.", retryable=True)
                raise StopAsyncIteration
            self._first = False
            events = self._parser.feed(chunk)
            if events:
                self._events = events
                self._index = 1
                return events[0]

    async def drain(self) -> None:
        """Read what is left of the body (normally only the end of the chunked encoding) so the
        connection goes back to the pool; gives up quietly after DRAIN_SECONDS."""
        try:
            while await self._chunk(DRAIN_SECONDS) is not None:
                pass
        except ProviderError:
            pass


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def request_json(
    target: Target,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    map_status: StatusMapper,
    params: dict[str, Any] | None = None,
    content: bytes | None = None,
    body: dict[str, Any] | None = None,
    read_timeout: float | None = None,
) -> Any:
    """One JSON request and its answer (model lists, assistants calls), with the same error mapping
    as chat calls; an answer larger than ``UPSTREAM_MAX_BYTES`` is refused unread."""
    t = target.timeouts
    client = get_client(target.guarded)
    timeout = httpx2.Timeout(connect=t.connect, read=read_timeout or t.first_token, write=t.idle, pool=t.connect)
    if body is not None:
        content = _dumps(body)
    request = client.build_request(method, url, headers=headers, params=params, content=content, timeout=timeout)
    try:
        response = await client.send(request, stream=True)
        try:
            raw = await _read_bounded(response, t.max_bytes if response.status_code < 300 else MAX_ERROR_BODY)
        finally:
            await response.aclose()
    except httpx2.HTTPError as exc:
        raise transport_error(exc, target.guarded) from None
    if response.status_code >= 300:
        logger.debug("upstream answered HTTP %s", response.status_code)
        raise map_status(response.status_code, response.headers, _load_json(raw))
    try:
        return json.loads(raw)
    except ValueError:
        raise ProviderError("upstream_error", "The provider sent a malformed answer.", status=200) from None


async def _read_bounded(response: httpx2.Response, limit: int) -> bytes:
    """The body, or (past ``limit``) its first ``limit`` bytes of an error body / ``too_large``."""
    declared = response.headers.get("content-length", "")
    if response.status_code < 300 and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            if response.status_code < 300:
                raise too_large(limit)
            break  # an error body is read only to classify it
    return b"".join(parts)[:limit]


async def get_json(
    target: Target, url: str, *, headers: dict[str, str], map_status: StatusMapper, params: dict[str, Any] | None = None
) -> Any:
    """GET a small JSON document (model lists)."""
    return await request_json(target, "GET", url, headers=headers, map_status=map_status, params=params)
