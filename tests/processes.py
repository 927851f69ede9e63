"""Real server processes sharing the test database and cache (the multi-worker path).

Used on the PostgreSQL + Redis leg: each process is a separate uvicorn running
the project against the database pytest-django created, so what one process
writes the others must see through PostgreSQL and Redis, not through memory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def shared_services_available() -> bool:
    return connection.vendor == "postgresql" and bool(settings.REDIS_URL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "librechat_site.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-access-log", "--log-level", "warning", "--no-proxy-headers"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def process_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_SETTINGS_MODULE": "librechat_site.settings_test",
        "TESTING": "true",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@pytest.fixture
def server_processes(transactional_db: None) -> Iterator[list[ServerProcess]]:
    """Two server processes on the shared database and Redis (PostgreSQL + Redis leg only)."""
    if not shared_services_available():
        pytest.skip("needs PostgreSQL and Redis (the second leg of scripts/test)")
    servers = [ServerProcess(process_env()) for _ in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
