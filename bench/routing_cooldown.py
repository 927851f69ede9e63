"""What a failing deployment costs the client, with and without cooldowns, in one run.

    python bench/routing_cooldown.py [REQUESTS]

One model, two deployments at equal weights: ``healthy`` (the fast fake upstream) and ``sick``
(a server on 127.0.0.1 that fails).  Requests are sequential; each that picks ``sick`` first
pays its failure, then ``healthy`` answers.  With cooldowns (``allowedFails: 3``) the sick one
leaves the picks after its fourth failure; without (``cooldowns: false``) it keeps costing.
Two failures: a slow 503 (after 200 ms, a struggling upstream) and a refused connection.
The baseline is a model with only the healthy deployment.  Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time

import httpx2
from harness import Processes, append_results, free_port, machine, start_service

SICK_DELAY = 0.2
HITS = {"sick": 0}

MODELS = """    - name: pool
      apiKey: test-key
      baseURL: '{upstream}'
      models:
        default:
          - {name: only-healthy}
"""
PAIR = """          - name: {name}
            routing: {routing}
            deployments: [{{name: sick, baseURL: '{sick}'}}, {{name: healthy}}]
"""


async def _sick(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)  # fmt: skip
            await reader.readexactly(length)
            HITS["sick"] += 1
            await asyncio.sleep(SICK_DELAY)
            body = b'{"error": {"message": "overloaded", "type": "server_error"}}'
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def start_sick(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_sick, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()


def run(base: str, token: str, model: str, requests: int) -> dict[str, float]:
    body = {"endpoint": "pool", "model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": False}
    headers = {"Authorization": f"Bearer {token}"}
    latencies, errors, before = [], 0, HITS["sick"]
    with httpx2.Client(timeout=60) as client:
        for _ in range(requests):
            started = time.perf_counter()
            response = client.post(f"{base}/api/chat", json=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
    latencies.sort()
    return {"mean": statistics.fmean(latencies), "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1], "errors": errors,
            "sick": HITS["sick"] - before}  # fmt: skip


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    sick_port, closed_port = free_port(), free_port()
    start_sick(sick_port)
    yaml = MODELS
    for failure, url in (
        ("503", f"http://127.0.0.1:{sick_port}/v1"),
        ("refused", f"http://127.0.0.1:{closed_port}/v1"),
    ):
        yaml += PAIR.format(name=f"{failure}-cooldowns", routing="{allowedFails: 3, cooldownSeconds: 600}", sick=url)
        yaml += PAIR.format(name=f"{failure}-no-cooldowns", routing="{cooldowns: false}", sick=url)
    with Processes() as procs:
        service = start_service(procs, extra_yaml=yaml)
        run(service.base, service.token, "only-healthy", 50)  # warm up
        base = run(service.base, service.token, "only-healthy", requests)
        rows = [("only the healthy deployment (baseline)", base)]
        for failure, label in (("503", "sick: 503 after 200 ms"), ("refused", "sick: connection refused")):
            for mode in ("no-cooldowns", "cooldowns"):
                before = HITS["sick"]
                result = run(service.base, service.token, f"{failure}-{mode}", requests)
                if failure == "refused":
                    result["sick"] = float("nan")  # nothing listens there to count
                else:
                    result["sick"] = HITS["sick"] - before
                rows.append((f"{label}, {'with' if mode == 'cooldowns' else 'without'} cooldowns", result))
    lines = [
        f"### routing_cooldown — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, 1 worker, SQLite, "
        f"{requests} sequential requests each",
        "",
        "| model | mean ms | p50 ms | p99 ms | added mean ms per request | requests that reached the sick one | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        reached = "—" if r["sick"] != r["sick"] else f"{int(r['sick'])}"
        lines.append(f"| {name} | {r['mean']:.2f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['mean'] - base['mean']:+.2f} | {reached} | {int(r['errors'])} |")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    append_results(text)


if __name__ == "__main__":
    main()
