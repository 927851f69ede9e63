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

Scripting: ``server.reply`` (a :class:`Reply`) is the default answer; ``server.script(r1, r2…)``
queues answers for the next requests. A Reply holds the text chunks, tool calls, usage numbers,
an error status, a delay between frames and a ``fault`` (see :class:`Fault`).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
]

OVERLONG_SIZE = (1 << 20) + 1024  # just over the adapters' 1 MiB line limit
_MAX_HEAD = 64 * 1024


class Fault:
    """Fault switches for :attr:`Reply.fault`. ``Reply.after`` frames are sent before the fault."""

    NO_FIRST_BYTE = "no_first_byte"  # read the request, never answer (not even headers)
    STALL = "stall"  # send headers and `after` frames, then hold the connection silently
    RESET = "reset"  # send `after` frames, then reset the connection (TCP RST)
    MALFORMED = "malformed"  # a `data:` line that is not JSON, after `after` frames
    OVERLONG = "overlong"  # a line of OVERLONG_SIZE bytes, after `after` frames
    PARTIAL = "partial"  # the body ends in the middle of an event, after `after` frames
    NO_TERMINATOR = "no_terminator"  # the whole answer but no [DONE] / message_stop / finishReason
    ERROR_EVENT = "error_event"  # the vendor's in-stream error event, after `after` frames


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class Reply:
    """What a fake answers to one chat request."""

    text: list[str] = field(default_factory=lambda: ["Hello", ", world", "!"])
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int = 0
    usage: bool = True  # False: the stream carries no usage at all
    finish: str | None = None  # the vendor's own finish value; None: its "stop" (or "tool calls" one)
    status: int = 200  # non-200: the vendor's error body for that status
    retry_after: str | None = None  # Retry-After header value on an error status
    error_code: str | None = None  # vendor error code/type/reason override in the error body
    fault: str | None = None
    after: int = 1
    delay: float = 0.0  # seconds between frames
    model: str | None = None  # model id the answer claims; None: the requested one


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lowercased names
    body: bytes
    target: str  # path and query as sent
    started_at: float = field(default_factory=time.monotonic)
    finished: bool = False  # the answer was sent completely
    disconnected: bool = False  # the client closed the connection before the answer was complete

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Exchange:
    """One request's answer channel: plain responses, chunked streams, resets and holds."""

    __slots__ = ("_chunked", "conn", "received")

    def __init__(self, conn: _Connection, received: Received) -> None:
        self.conn = conn
        self.received = received
        self._chunked = False

    @property
    def closed(self) -> bool:
        return self.conn.lost

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        all_headers = {"content-length": str(len(body)), **(headers or {})}
        self.conn.write(self._head(status, all_headers) + body)
        self.received.finished = True

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})})

    def start_stream(self, headers: dict[str, str], status: int = 200) -> None:
        self._chunked = True
        self.conn.write(self._head(status, {**headers, "transfer-encoding": "chunked"}))

    async def frame(self, data: bytes) -> bool:
        """Send one chunk; False when the client is gone."""
        if self.conn.lost:
            return False
        self.conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        await self.conn.drain()
        return not self.conn.lost

    def end_stream(self) -> None:
        if not self.conn.lost:
            self.conn.write(b"0\r\n\r\n")
            self.received.finished = True

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed upstream or proxy does."""
        sock = self.conn.transport.get_extra_info("socket") if self.conn.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.keep_alive = False
        if self.conn.transport is not None:
            self.conn.transport.abort()

    async def hold(self) -> None:
        """Wait silently until the client disconnects (or the server stops)."""
        self.conn.keep_alive = False
        await asyncio.shield(self.conn.lost_future)


class _Connection(asyncio.Protocol):
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.current: Received | None = None
        self.lost = False
        self.keep_alive = True
        self.lost_future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections += 1
        self.server.open_connections += 1
        self.server._live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.server.open_connections -= 1
        self.server._live.discard(self)
        if self.current is not None and not self.current.finished:
            self.current.disconnected = True
            self.server.disconnects += 1
        if not self.lost_future.done():
            self.lost_future.set_result(None)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def drain(self) -> None:
        if self._writable is not None:
            await self._writable

    def write(self, data: bytes) -> None:
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.task is None:
            self._dispatch()

    def _dispatch(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD and self.transport is not None:
                self.transport.close()
            return
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        length = int(headers.get("content-length") or 0)
        if len(self.buffer) < end + 4 + length:
            return  # wait for the rest of the body
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        parts = urlsplit(target)
        received = Received(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            target=target,
        )
        self.current = received
        self.keep_alive = headers.get("connection", "").lower() != "close"
        self.server.requests.append(received)
        self.task = asyncio.get_running_loop().create_task(self._run(received))

    async def _run(self, received: Received) -> None:
        server = self.server
        server.active += 1
        server.peak_active = max(server.peak_active, server.active)
        try:
            await server.handle(received, Exchange(self, received))
        except Exception as exc:  # a bug in a fake must not hang the client
            server.errors.append(exc)
            if self.transport is not None:
                self.transport.abort()
        finally:
            server.active -= 1
            self.task = None
            if not received.finished and not self.lost and self.transport is not None:
                self.transport.close()  # the handler gave up without answering fully
            elif not self.keep_alive and self.transport is not None:
                self.transport.close()
            elif self.buffer and not self.lost:
                self._dispatch()


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
        self._live: set[_Connection] = set()

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
            lambda: _Connection(self), "127.0.0.1", 0, backlog=4096, reuse_address=True
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


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """A loopback port whose accept queue is full, so new connections hang in SYN-SENT: a real
    connect timeout without leaving the machine (Linux drops SYNs to a full listen queue)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._fillers: list[socket.socket] = []

    def start(self) -> Blackhole:
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        port = self._listener.getsockname()[1]
        for _ in range(16):
            probe = socket.socket()
            probe.setblocking(False)
            probe.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [probe], [], 0.2)
            if not writable:
                probe.close()
                return self
            self._fillers.append(probe)
        raise RuntimeError("could not fill the listen queue")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._listener.close()

    def __enter__(self) -> Blackhole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
