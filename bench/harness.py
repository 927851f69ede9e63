"""Shared pieces of the benchmarks: processes on 127.0.0.1, a bounded async load
generator, and the service started on a scratch SQLite database (or DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BODY = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 16}


_next_port = int(os.environ.get("BENCH_PORT_BASE", "0") or 0)


def free_port() -> int:
    """A free port: the OS's choice, or the next free one from ``BENCH_PORT_BASE`` when set (so
    benchmarks sharing a machine can keep to their own range)."""
    global _next_port
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", _next_port))
            except OSError:
                _next_port += 1
                continue
            port = int(s.getsockname()[1])
        if _next_port:
            _next_port += 1
        return port


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Result:
    name: str
    concurrency: int
    rps: float
    p50: float
    p99: float
    ttft50: float | None
    errors: int


async def _load(
    url: str, body: dict, headers: dict, requests: int, concurrency: int, stream: bool, ttft_marker: bytes
) -> tuple[float, list[float], list[float], int]:
    latencies: list[float] = []
    ttfts: list[float] = []
    errors = 0
    queue = iter(range(requests))
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                started = time.perf_counter()
                try:
                    if stream:
                        async with client.stream("POST", url, json=body, headers=headers) as response:
                            first = None
                            async for chunk in response.aiter_bytes():
                                if first is None and ttft_marker in chunk:
                                    first = time.perf_counter() - started
                            if response.status_code != 200:
                                errors += 1
                                continue
                            if first is not None:
                                ttfts.append(first)
                    else:
                        response = await client.post(url, json=body, headers=headers)
                        if response.status_code != 200:
                            errors += 1
                            continue
                except httpx2.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return elapsed, latencies, ttfts, errors


def measure(name: str, url: str, body: dict, headers: dict, requests: int, concurrency: int, stream: bool,
            marker: bytes) -> Result:  # fmt: skip
    # Warm up connections and caches, then measure.
    asyncio.run(_load(url, body, headers, min(50, requests), concurrency, stream, marker))
    elapsed, lat, ttft, errors = asyncio.run(_load(url, body, headers, requests, concurrency, stream, marker))
    lat.sort()
    return Result(
        name=name,
        concurrency=concurrency,
        rps=len(lat) / elapsed if elapsed else 0.0,
        p50=statistics.median(lat) * 1000 if lat else float("nan"),
        p99=lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan"),
        ttft50=statistics.median(ttft) * 1000 if ttft else None,
        errors=errors,
    )


class Processes:
    """Child processes, all stopped (SIGINT, then kill) when the block ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Service:
    base: str
    upstream: str
    up_port: int
    token: str
    server: subprocess.Popen[bytes]
    env: dict[str, str]


def start_service(procs: Processes, workers: int = 1, extra_endpoints: int = 0, extra_yaml: str = "") -> Service:
    """The fake upstream plus the service (uvicorn, ``workers`` processes) configured for it
    (and ``extra_endpoints`` more custom endpoints of two models each, and ``extra_yaml``: more
    items of ``endpoints.custom``, where ``{upstream}`` is the fake's URL)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    env = {
        **os.environ,
        "SECRET_KEY": "bench-" + "x" * 50,
        "CREDS_KEY": "ab" * 32,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        "CONFIG_PATH": str(tmp / "librechat.yaml"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The limiters stay on (their counting is part of every chat) with ceilings the load never reaches.
        "LIMIT_MESSAGE_IP": "true",
        "MESSAGE_IP_MAX": "1000000",
        "LIMIT_CONCURRENT_MESSAGES": "true",
        "CONCURRENT_MESSAGE_MAX": "100000",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    up_port = free_port()
    procs.start([PY, str(ROOT / "bench" / "fake_upstream.py"), str(up_port)], env)
    upstream = f"http://127.0.0.1:{up_port}/v1"
    wait_for(f"{upstream}/models")
    (tmp / "librechat.yaml").write_text(
        "version: 1.3.14\nendpoints:\n  custom:\n"
        f"    - {{name: fake, apiKey: test-key, baseURL: '{upstream}', models: {{default: [gpt-4o]}}}}\n"
        + "".join(
            f"    - {{name: e{i}, apiKey: k, baseURL: '{upstream}', models: {{default: [a{i}, b{i}]}}}}\n"
            for i in range(extra_endpoints)
        )
        + extra_yaml.replace("{upstream}", upstream)
    )
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "seed_endpoints", "-v", "0"], env=env, check=True, stdout=subprocess.DEVNULL)
    script = (
        "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token;"
        "u,_=User.objects.get_or_create(username='bench'); print(Token.objects.get_or_create(user=u)[0].key)"
    )
    token = (
        subprocess.run([*manage, "shell", "-c", script], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = procs.start(uvicorn("librechat_site.asgi:application", port, workers), env)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz")
    return Service(base=base, upstream=upstream, up_port=up_port, token=token, server=server, env=env)


def uvicorn(app: str, port: int, workers: int) -> list[str]:
    """The command line the service and the bare relay both run under (uvloop, httptools, quiet)."""
    return [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools",
            "--no-proxy-headers"]  # fmt: skip


def start_bare_relay(procs: Processes, upstream: str, workers: int = 1, client: str = "service") -> str:
    """The bare relay (``bench/bare_relay.py``) on ``upstream``, run like the service (uvicorn,
    uvloop, httptools, ``workers`` processes); its base URL."""
    port = free_port()
    env = {**os.environ, "BARE_RELAY_UPSTREAM": upstream, "BARE_RELAY_CLIENT": client,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    procs.start(uvicorn("bench.bare_relay:app", port, workers), env)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/")
    return base


def machine() -> str:
    import platform

    return f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def append_results(text: str) -> None:
    with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
        fh.write("\n" + text + "\n")


__all__ = [
    "PY", "ROOT", "Processes", "Result", "Service", "append_results", "free_port", "machine", "measure",
    "rss_kib", "start_bare_relay", "start_service", "wait_for",
]  # fmt: skip
