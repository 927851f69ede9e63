"""Network faults below HTTP: a port that refuses connections, and one whose connections hang."""

from __future__ import annotations

import select
import socket

__all__ = ["Blackhole", "closed_port_url"]


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
