"""Real server processes sharing the test database and cache (the multi-worker path).

Used on the PostgreSQL + Redis leg: each process is a separate uvicorn running
the project against the database pytest-django created, so what one process
writes the others must see through PostgreSQL and Redis, not through memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def shared_services_available() -> bool:
    return connection.vendor == "postgresql" and bool(settings.REDIS_URL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict  # NAME is the test database pytest-django created
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_SETTINGS_MODULE": "librechat_site.settings_test",
        "TESTING": "true",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    env.pop("ENDPOINTS", None)
    return env


class ServerProcess:
    """``uvicorn librechat_site.asgi:application`` in its own process, on its own port."""

    def __init__(self, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "librechat_site.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--lifespan", "off", "--log-level", "warning", "--no-access-log",
             "--no-proxy-headers"],
            cwd=ROOT, env=process_env(**env), stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server process exited ({self.process.returncode}):\n{self.output()}")
            try:
                httpx2.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server process did not start:\n{self.output()}") from None
                time.sleep(0.1)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to release anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def start_servers(count: int, **env: str) -> list[ServerProcess]:
    """``count`` server processes, all ready (or all stopped again if one fails)."""
    servers: list[ServerProcess] = []
    try:
        servers += [ServerProcess(**env) for _ in range(count)]
        for server in servers:
            server.wait_ready()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@contextmanager
def serving(count: int, **env: str) -> Iterator[list[ServerProcess]]:
    """``count`` ready server processes (:func:`start_servers`), stopped when the block ends."""
    servers = start_servers(count, **env)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def wait_until_quiet(timeout: float = 20, quiet_for: float = 0.5) -> None:
    """Until no other session is inside a transaction on the test database, for ``quiet_for`` seconds.

    Server processes write a chat's usage row after its answer went out, so a test can end while one is
    still being written; the flush that empties the database between tests truncates every table at once
    and would deadlock with that write (PostgreSQL then aborts the flush and the next test finds the last
    one's rows)."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            (busy,) = cursor.fetchone()
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_for:
            return
        if now > deadline:
            raise AssertionError(f"{busy} database session(s) still busy {timeout} s after the test")
        time.sleep(0.05)


@pytest.fixture
def quiet_database(transactional_db: None) -> Iterator[None]:
    """For tests against server processes that outlive them (module-scoped): waits, after the test, for
    the processes' last writes (see ``wait_until_quiet``)."""
    yield
    if connection.vendor == "postgresql":
        wait_until_quiet()


@pytest.fixture
def server_processes(transactional_db: None) -> Iterator[list[ServerProcess]]:
    """Two server processes on the shared database and Redis (PostgreSQL + Redis leg only)."""
    if not shared_services_available():
        pytest.skip("needs PostgreSQL and Redis (the second leg of scripts/test)")
    with serving(2) as servers:
        yield servers
