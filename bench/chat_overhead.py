"""What the gateway adds: chat through /api/chat (and /v1/chat/completions when it
exists) vs straight to the fake upstream, in one run; then 1,000 streams held open.

    .venv/bin/python bench/chat_overhead.py [--requests 2000] [--concurrency 1,16,64] [--streams 1000]

Three processes: the fake OpenAI upstream, the service (uvicorn, one worker by
default), and the load generator (this script's child).  Everything on
127.0.0.1; bounded in count and time.  Prints a table and appends it to
bench/RESULTS.md.  Figures are noisy on shared machines: compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def _hold_streams(url: str, body: dict, headers: dict, count: int, hold: float) -> tuple[int, int]:
    opened = 0
    errors = 0
    ready = asyncio.Event()
    limits = httpx2.Limits(max_connections=count + 10)
    async with httpx2.AsyncClient(timeout=120, limits=limits) as client:

        async def one() -> None:
            nonlocal opened, errors
            try:
                async with client.stream("POST", url, json=body, headers=headers) as response:
                    if response.status_code != 200:
                        errors += 1
                        return
                    async for chunk in response.aiter_bytes():
                        if b"event: delta" in chunk:
                            break
                    opened += 1
                    if opened == count:
                        ready.set()
                    await asyncio.sleep(hold)
            except httpx2.HTTPError:
                errors += 1

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        try:
            await asyncio.wait_for(ready.wait(), timeout=90)
        except TimeoutError:
            pass
        await asyncio.sleep(1.0)
        await asyncio.gather(*tasks)
    return opened, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    env = {
        **os.environ,
        "SECRET_KEY": "bench-" + "x" * 50,
        "CREDS_KEY": "ab" * 32,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        "CONFIG_PATH": str(tmp / "librechat.yaml"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LIMIT_MESSAGE_IP": "false",
        "LIMIT_CONCURRENT_MESSAGES": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up_port = free_port()
        procs.append(subprocess.Popen([PY, str(ROOT / "bench" / "fake_upstream.py"), str(up_port)], env=env))
        upstream = f"http://127.0.0.1:{up_port}/v1"
        wait_for(f"{upstream}/models")
        (tmp / "librechat.yaml").write_text(
            "version: 1.3.14\nendpoints:\n  custom:\n"
            f"    - {{name: fake, apiKey: test-key, baseURL: '{upstream}', models: {{default: [gpt-4o]}}}}\n"
        )
        manage = [PY, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
        subprocess.run([*manage, "seed_endpoints", "-v", "0"], env=env, check=True, stdout=subprocess.DEVNULL)
        token = subprocess.run(
            [*manage, "shell", "-c",
             "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token;"
             "u,_=User.objects.get_or_create(username='bench'); print(Token.objects.get_or_create(user=u)[0].key)"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [PY, "-m", "uvicorn", "librechat_site.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(args.workers), "--no-access-log", "--log-level", "warning", "--loop", "uvloop",
             "--http", "httptools", "--no-proxy-headers"],
            env=env, cwd=ROOT,
        )  # fmt: skip
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/models")
        auth = {"Authorization": f"Bearer {token}"}
        direct_body = {**BODY, "model": "gpt-4o"}
        api_body = {**BODY, "endpoint": "fake", "model": "gpt-4o"}
        gateway_body = {**BODY, "model": "fake/gpt-4o"}
        has_gateway = httpx2.get(f"{base}/v1/models", headers=auth).status_code == 200

        results: list[Result] = []
        for stream in (False, True):
            kind = "stream" if stream else "json"
            for c in levels:
                n = args.requests if c > 1 else max(200, args.requests // 10)
                results.append(measure(f"upstream direct ({kind})", f"{upstream}/chat/completions",
                                       {**direct_body, "stream": stream}, {"Authorization": "Bearer test-key"},
                                       n, c, stream, b"data: {"))  # fmt: skip
                results.append(measure(f"/api/chat ({kind})", f"{base}/api/chat", {**api_body, "stream": stream},
                                       auth, n, c, stream, b"event: delta"))  # fmt: skip
                if has_gateway:
                    results.append(measure(f"/v1/chat/completions ({kind})", f"{base}/v1/chat/completions",
                                           {**gateway_body, "stream": stream}, auth, n, c, stream,
                                           b'"content"'))  # fmt: skip

        lines = [
            f"### chat_overhead — {time.strftime('%Y-%m-%d %H:%M')} — {platform.node()}, {os.cpu_count()} cores, "
            f"{args.workers} worker(s), {'PostgreSQL' if 'postgres' in env['DATABASE_URL'] else 'SQLite'}",
            "",
            "| path | clients | req/s | p50 ms | p99 ms | added p50 ms | TTFT p50 ms | added TTFT ms | errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        baseline = {(r.name.split(" (")[1], r.concurrency): r for r in results if r.name.startswith("upstream")}
        for r in results:
            base_r = baseline[(r.name.split(" (")[1], r.concurrency)]
            added = r.p50 - base_r.p50
            ttft = f"{r.ttft50:.2f}" if r.ttft50 is not None else "—"
            added_ttft = (
                f"{r.ttft50 - base_r.ttft50:+.2f}" if r.ttft50 is not None and base_r.ttft50 is not None else "—"
            )
            lines.append(
                f"| {r.name} | {r.concurrency} | {r.rps:.0f} | {r.p50:.2f} | {r.p99:.2f} | "
                f"{added:+.2f} | {ttft} | {added_ttft} | {r.errors} |"
            )

        if args.streams:
            slow = httpx2.post(f"http://127.0.0.1:{up_port}/__slow", json={"delay": 0.5, "chunks": 120})
            assert slow.status_code == 200
            before = rss_kib(server.pid) if args.workers == 1 else 0
            began = time.perf_counter()
            opened, errors = asyncio.run(
                _hold_streams(f"{base}/api/chat", {**api_body, "stream": True}, auth, args.streams, hold=3.0)
            )
            peak = rss_kib(server.pid) if args.workers == 1 else 0
            httpx2.post(f"http://127.0.0.1:{up_port}/__slow", json={"delay": 0, "chunks": 0})
            per = (peak - before) / max(opened, 1)
            lines += [
                "",
                f"{opened} of {args.streams} streams held open at once through /api/chat "
                f"({errors} errors, {time.perf_counter() - began:.1f} s); "
                f"worker RSS {before / 1024:.0f} MiB -> {peak / 1024:.0f} MiB: **{per:.1f} KiB per open stream**",
            ]
        table = "\n".join(lines)
        print(table)
        with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
            fh.write("\n" + table + "\n")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
