"""The base of the hot HTTP paths (``/api/chat``, ``/v1/...``): a channels consumer that
answers in a task of its own, so it keeps reading the connection while it answers.

When the client goes away (``http.disconnect``) the task is cancelled, which closes
whatever the answer was waiting on (the upstream request) and lets it settle.  Whatever
escapes the answer still ends the response: 503 when the shared cache is down (fail
closed), else a logged ``internal_error``, never a hanging client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from core.errors import ApiError
from core.sharedcache import CACHE_ERRORS, unavailable

log = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
JSON_HEADERS = [(b"content-type", b"application/json")]


def compact_json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def internal_error() -> ApiError:
    return ApiError("internal_error", "The server failed to answer; the error was logged.", status=500)


class StreamingHttpConsumer(AsyncHttpConsumer):
    """Runs ``respond(body)`` in a task and cancels it when the client disconnects."""

    _task: asyncio.Task[None] | None = None
    started = False  # the response's status line went out: errors now go in the body

    async def send_headers(self, *, status: int = 200, headers: Any = None) -> None:
        self.started = True
        await super().send_headers(status=status, headers=headers)

    async def http_request(self, message: dict[str, Any]) -> None:
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            self._task = asyncio.ensure_future(self._run(b"".join(self.body)))

    async def _run(self, body: bytes) -> None:
        try:
            await self.respond(body)
        except asyncio.CancelledError:
            raise
        except CACHE_ERRORS as exc:
            log.warning("shared cache unavailable answering %s: %s", self.scope.get("path"), type(exc).__name__)
            await self.fail(unavailable())
        except Exception:
            log.exception("unhandled error answering %s", self.scope.get("path"))
            await self.fail(internal_error())
        finally:
            await aclose_old_connections()

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        raise StopConsumer()

    async def respond(self, body: bytes) -> None:
        raise NotImplementedError

    async def fail(self, error: ApiError) -> None:
        """End the response with ``error``: its status before the body began, else in the body."""
        if not self.started:
            await self.send_error(error)
        else:
            await self.send_body(self.error_frame(error), more_body=False)

    async def send_error(self, error: ApiError) -> None:
        headers = JSON_HEADERS + [(k.lower().encode(), v.encode("latin-1")) for k, v in error.headers.items()]
        await self.send_response(error.status, compact_json(error.body()), headers=headers)

    def error_frame(self, error: ApiError) -> bytes:
        """The last frame of a stream that failed after it began (the contract's ``error`` event)."""
        return b"event: error\ndata: " + compact_json(error.body()) + b"\n\n"
