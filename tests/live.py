"""A real ASGI server (uvicorn) running the project in a background thread, for
tests that need real HTTP: streaming, disconnects, concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn


class LiveServer:
    def __init__(self) -> None:
        from librechat_site.asgi import application

        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=0,
            lifespan="on",  # as in production: the start-up warm-up, and the upstream pools closed at the end
            timeout_graceful_shutdown=5,  # a stream a test left open does not hold the next test up
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the app decides whom to believe (TRUSTED_PROXIES), as in production
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-asgi", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live ASGI server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[LiveServer]:
    server = LiveServer().start()
    try:
        yield server
    finally:
        server.stop()
