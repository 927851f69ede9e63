"""A tiny asyncio HTTP/1.1 server for fake upstreams: records what it receives, answers as scripted.

Each vendor fake (``openai.py``, ``azure.py``, ``anthropic.py``, ``google.py``) subclasses
:class:`FakeServer` and implements :meth:`FakeServer.handle` in its vendor's wire format. The
server listens on 127.0.0.1 on an ephemeral port and runs either in a background thread with its
own event loop (``start()`` / ``stop()``, or ``with``: for sync tests, and async tests on any loop)
or on the running loop (``await astart()`` / ``await aclose()``, or ``async with``).

It is built on ``asyncio.Protocol`` (no stream objects, one task per request) and keeps
connections alive, so one process can hold thousands of concurrent streams for benchmarks.

Recording: every request is appended to ``server.requests`` as a :class:`Received` (method,
path, query, lowercased headers, body, ``.json``), with ``disconnected`` set when the client went
away before the answer was complete.

Scripting: ``server.reply`` (a :class:`~tests.fakes.script.Reply`) is the default answer;
``server.script(r1, r2…)`` queues answers for the next requests (see ``script.py``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fakes.http11 import Connection, Exchange, Received
from tests.fakes.network import Blackhole, closed_port_url
from tests.fakes.script import OVERLONG_SIZE, Fault, Reply, ToolCall

# The scripting and network helpers are re-exported: tests import them from here.
__all__ = [
    "OVERLONG_SIZE",
    "Blackhole",
    "Exchange",
    "FakeServer",
    "Fault",
    "Received",
    "Reply",
    "ToolCall",
    "closed_port_url",
    "sse",
]


class FakeServer:
    """Base class of the vendor fakes. Subclasses implement :meth:`handle`."""

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.reply = Reply()
        self._queue: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.errors: list[Exception] = []  # exceptions raised by the fake's own handler (a test bug)
        self.connections = 0  # accepted, in total
        self.open_connections = 0
        self.active = 0  # requests being answered now
        self.peak_active = 0
        self.disconnects = 0  # answers cut short by the client
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._live: set[Connection] = set()

    # --- addresses ---

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (vendor fakes add ``base_url`` in their vendor's shape)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url

    # --- scripting and recording ---

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, then with ``self.reply`` again."""
        self._queue.extend(replies)

    def next_reply(self) -> Reply:
        return self._queue.popleft() if self._queue else self.reply

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def reset(self) -> None:
        """Forget requests and scripts; back to the default reply and key (fixtures call this per test)."""
        self.reply = Reply()
        self._queue.clear()
        self.requests.clear()
        self.errors.clear()
        self.disconnects = self.peak_active = 0
        self.reset_vendor()

    def reset_vendor(self) -> None:
        """Subclasses restore their own settings (models, key)."""

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll ``predicate`` from a thread other than the server's (sync tests)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    async def await_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll ``predicate`` without blocking the running loop (async tests)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # --- the vendor's part ---

    async def handle(self, request: Received, exchange: Exchange) -> None:
        raise NotImplementedError

    async def play(self, exchange: Exchange, reply: Reply, frames: list[bytes], headers: dict[str, str]) -> None:
        """Stream SSE ``frames`` as scripted by ``reply`` (delays and faults)."""
        if reply.fault == Fault.NO_FIRST_BYTE:
            await exchange.hold()
            return
        exchange.start_stream(headers)
        for index, frame in enumerate(frames):
            if reply.fault is not None and index == reply.after:
                if await self._fault(exchange, reply):
                    return
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if not await exchange.frame(frame):
                return
        if reply.fault is not None and reply.after >= len(frames) and await self._fault(exchange, reply):
            return
        exchange.end_stream()

    async def _fault(self, exchange: Exchange, reply: Reply) -> bool:
        """Apply ``reply.fault``; True when the answer is over."""
        fault = reply.fault
        if fault == Fault.STALL:
            await exchange.hold()
        elif fault == Fault.RESET:
            exchange.reset()
        elif fault == Fault.PARTIAL:
            await exchange.frame(b'data: {"partial": ')
            exchange.end_stream()
        elif fault == Fault.ERROR_EVENT:
            await exchange.frame(self.error_event())
            exchange.end_stream()
        elif fault == Fault.MALFORMED:
            await exchange.frame(b"data: {this is not json\n\n")
            return False
        elif fault == Fault.OVERLONG:
            await exchange.frame(b"data: " + b"x" * OVERLONG_SIZE + b"\n\n")
            return False
        else:
            return False  # NO_TERMINATOR is applied by the vendor when it builds the frames
        return True

    def error_event(self) -> bytes:
        """The vendor's in-stream error frame (Fault.ERROR_EVENT)."""
        return b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'

    # --- lifecycle ---

    async def astart(self) -> FakeServer:
        """Listen on the running loop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: Connection(self), "127.0.0.1", 0, backlog=4096, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._live):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeServer:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> FakeServer:
        """Listen from a background thread with its own loop."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.astart())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse(payload: Any, event: str | None = None, newline: bytes = b"\n") -> bytes:
    """One SSE frame with a JSON ``data`` line."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    head = b"event: " + event.encode() + newline if event else b""
    return head + b"data: " + data + newline + newline
