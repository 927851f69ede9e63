"""/api/endpoints and /api/models with 3, 30 and 300 endpoints: requests/s, latency and
database queries per request (warm), in one run.

    .venv/bin/python bench/read_api.py [--requests 3000] [--clients 16]

The query count is taken in a separate Django process against the same database
(``CaptureQueriesContext``, after one warming request), the load from this process
against a uvicorn worker.  Appends the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PY, ROOT, Processes, append_results, machine, start_service

COUNT_QUERIES = """
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
client = APIClient(SERVER_NAME="127.0.0.1")
client.credentials(HTTP_AUTHORIZATION="Bearer {token}")
for path in ("/api/endpoints", "/api/models"):
    client.get(path)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    print(path, len(ctx.captured_queries))
"""


def get(url: str, headers: dict[str, str], requests: int, clients: int):  # type: ignore[no-untyped-def]
    import asyncio

    import httpx2

    async def run() -> tuple[float, list[float], int]:
        latencies: list[float] = []
        errors = 0
        queue = iter(range(requests))
        async with httpx2.AsyncClient(limits=httpx2.Limits(max_connections=clients), timeout=60) as client:

            async def worker() -> None:
                nonlocal errors
                for _ in queue:
                    began = time.perf_counter()
                    response = await client.get(url, headers=headers)
                    if response.status_code != 200:
                        errors += 1
                    latencies.append(time.perf_counter() - began)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return time.perf_counter() - started, latencies, errors

    asyncio.run(run())  # warm
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    lines = [
        f"### read_api — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, 1 worker, {args.clients} clients",
        "",
        "| endpoints | path | req/s | p50 ms | p99 ms | queries per request (warm) | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for count in (3, 30, 300):
        with Processes() as procs:
            svc = start_service(procs, workers=1, extra_endpoints=count - 1)
            queries = subprocess.run(
                [PY, str(ROOT / "manage.py"), "shell", "-c", COUNT_QUERIES.format(token=svc.token)],
                env=svc.env, capture_output=True, text=True, check=True,
            ).stdout.splitlines()  # fmt: skip
            counted = dict(line.split() for line in queries if line.startswith("/api/"))
            auth = {"Authorization": f"Bearer {svc.token}"}
            for path in ("/api/endpoints", "/api/models"):
                elapsed, lat, errors = get(f"{svc.base}{path}", auth, args.requests, args.clients)
                lat.sort()
                lines.append(
                    f"| {count} | {path} | {len(lat) / elapsed:.0f} | {lat[len(lat) // 2] * 1000:.2f} | "
                    f"{lat[int(len(lat) * 0.99) - 1] * 1000:.2f} | {counted[path]} | {errors} |"
                )
    table = "\n".join(lines)
    print(table)
    append_results(table)


if __name__ == "__main__":
    main()
