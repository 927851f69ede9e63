"""The fakes' HTTP/1.1 layer: an ``asyncio.Protocol`` per connection (keep-alive, one task per
request, flow control) and the :class:`Exchange` a vendor fake answers through."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.fakes.server import FakeServer

__all__ = ["Connection", "Exchange", "Received"]

_MAX_HEAD = 64 * 1024


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


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # 529, Anthropic's "overloaded"
        return "Overloaded"


class Exchange:
    """One request's answer channel: plain responses, chunked streams, resets and holds."""

    __slots__ = ("_chunked", "conn", "received")

    def __init__(self, conn: Connection, received: Received) -> None:
        self.conn = conn
        self.received = received
        self._chunked = False

    @property
    def closed(self) -> bool:
        return self.conn.lost

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
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


class Connection(asyncio.Protocol):
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
