"""An incremental Server-Sent Events parser for upstream streams (the hot path).

Bytes go in as the network delivers them; complete events come out as ``(event, data)`` string
pairs. It follows the WHATWG rules that upstream APIs rely on
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end with ``\\n``, ``\\r\\n`` or ``\\r``; ``:`` starts a comment; several ``data:`` lines
join with ``\\n``; a blank line dispatches; an event without data is not dispatched; ``id`` and
``retry`` are ignored (upstream calls are never resumed). Only complete lines are decoded, so a
UTF-8 character split across chunks is safe.

The work per chunk is one ``find`` per line and one decode per event: no regex, no per-line
objects beyond the slices themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from endpoints.providers.errors import ProviderError

__all__ = ["DEFAULT_MAX_LINE", "SSEParser", "iter_sse"]

DEFAULT_MAX_LINE = 1 << 20  # 1 MiB: far above any real delta, low enough to bound memory

_NO_EVENTS: list[tuple[str, str]] = []  # returned (never mutated) when a chunk completes nothing


class SSEParser:
    """Feed bytes with :meth:`feed`; read :attr:`ended_cleanly` once the stream is over."""

    __slots__ = ("_data", "_data_size", "_event", "_partial", "_partial_size", "_pending_cr", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._partial: list[bytes] = []  # pieces of a line not yet ended (joined once, when it ends)
        self._partial_size = 0
        self._pending_cr = False  # the last chunk ended in "\r": a "\n" opening the next one belongs to it
        self._event = ""
        self._data: list[bytes] = []
        self._data_size = 0

    @property
    def ended_cleanly(self) -> bool:
        """True when no partial line and no undispatched event are buffered."""
        return not self._partial and not self._data

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Parse ``chunk``; return the events it completed (possibly none), in order."""
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # Rare (Gemini ends lines with "\r\n"): normalize to "\n", keeping a trailing "\r" pending.
            if chunk[-1:] == b"\r":
                self._pending_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.find(b"\n")
        if end < 0:
            if chunk:
                self._partial_size += len(chunk)
                if self._partial_size > self.max_line:
                    raise _overlong()
                self._partial.append(chunk)
            return _NO_EVENTS
        if self._partial:  # finish the line carried over: one join, however many pieces it came in
            self._partial.append(chunk)
            end += self._partial_size
            chunk = b"".join(self._partial)
            self._partial = []
            self._partial_size = 0
        events: list[tuple[str, str]] = []
        start = 0
        while end >= 0:
            if end - start > self.max_line:
                raise _overlong()
            if end == start:  # blank line: dispatch
                if self._data:
                    data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
                    events.append((self._event or "message", data.decode("utf-8", "replace")))
                    self._data = []
                    self._data_size = 0
                self._event = ""
            else:
                self._line(chunk[start:end])
            start = end + 1
            end = chunk.find(b"\n", start)
        if start < len(chunk):
            rest = chunk[start:]
            if len(rest) > self.max_line:
                raise _overlong()
            self._partial.append(rest)
            self._partial_size = len(rest)
        return events

    def _line(self, line: bytes) -> None:
        if line[:5] == b"data:":
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data_size += len(value)
            if self._data_size > self.max_line:
                raise _overlong()
            self._data.append(value)
        elif line[:6] == b"event:":
            self._event = (line[7:] if line[6:7] == b" " else line[6:]).decode("utf-8", "replace")
        elif line[:1] == b":":
            pass  # comment / keep-alive
        elif line == b"data":  # a field name alone means an empty value
            self._data.append(b"")
        # "id", "retry" and unknown fields are ignored.


def _overlong() -> ProviderError:
    return ProviderError(
        "upstream_error",
        "The provider sent an over-long stream line.",
        retryable=True,
    )


async def iter_sse(chunks: AsyncIterable[bytes], parser: SSEParser | None = None) -> AsyncIterator[tuple[str, str]]:
    """Events from an async byte iterator (e.g. ``response.aiter_raw()``).

    Pass your own ``parser`` to read :attr:`SSEParser.ended_cleanly` after the iteration.
    """
    parser = parser or SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
