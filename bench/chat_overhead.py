"""What the gateway adds: chat through /api/chat, /v1/chat/completions and /v1/messages
(Anthropic's format, answered from the same OpenAI-format fake) vs straight to the fake
upstream, in one run; then 1,000 streams held open.

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
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BODY, Processes, Result, append_results, machine, measure, rss_kib, start_service


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

    with Processes() as procs:
        svc = start_service(procs, workers=args.workers)
        base, upstream = svc.base, svc.upstream
        auth = {"Authorization": f"Bearer {svc.token}"}
        direct_body = {**BODY, "model": "gpt-4o"}
        api_body = {**BODY, "endpoint": "fake", "model": "gpt-4o"}
        gateway_body = {**BODY, "model": "fake/gpt-4o"}
        messages_body = {**BODY, "model": "fake/gpt-4o"}  # max_tokens is required there, and BODY has it
        anthropic_auth = {"x-api-key": svc.token, "anthropic-version": "2023-06-01"}

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
                results.append(measure(f"/v1/chat/completions ({kind})", f"{base}/v1/chat/completions",
                                       {**gateway_body, "stream": stream}, auth, n, c, stream,
                                       b'"content"'))  # fmt: skip
                results.append(measure(f"/v1/messages ({kind})", f"{base}/v1/messages",
                                       {**messages_body, "stream": stream}, anthropic_auth, n, c, stream,
                                       b'"text_delta"'))  # fmt: skip

        lines = [
            f"### chat_overhead — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, {args.workers} worker(s), "
            f"{'PostgreSQL' if 'postgres' in os.environ.get('DATABASE_URL', '') else 'SQLite'}",
            "",
            "| path | clients | req/s | p50 ms | p99 ms | added p50 ms | TTFT p50 ms | added TTFT ms | errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        baseline = {(r.name.split(" (")[1], r.concurrency): r for r in results if r.name.startswith("upstream")}
        for r in results:
            base_r = baseline[(r.name.split(" (")[1], r.concurrency)]
            ttft = f"{r.ttft50:.2f}" if r.ttft50 is not None else "—"
            added_ttft = (
                f"{r.ttft50 - base_r.ttft50:+.2f}" if r.ttft50 is not None and base_r.ttft50 is not None else "—"
            )
            lines.append(
                f"| {r.name} | {r.concurrency} | {r.rps:.0f} | {r.p50:.2f} | {r.p99:.2f} | "
                f"{r.p50 - base_r.p50:+.2f} | {ttft} | {added_ttft} | {r.errors} |"
            )

        if args.streams:
            slow_url = f"http://127.0.0.1:{svc.up_port}/__slow"
            assert httpx2.post(slow_url, json={"delay": 0.5, "chunks": 120}).status_code == 200
            before = rss_kib(svc.server.pid) if args.workers == 1 else 0
            began = time.perf_counter()
            opened, errors = asyncio.run(
                _hold_streams(f"{base}/api/chat", {**api_body, "stream": True}, auth, args.streams, hold=3.0)
            )
            peak = rss_kib(svc.server.pid) if args.workers == 1 else 0
            httpx2.post(slow_url, json={"delay": 0, "chunks": 0})
            per = (peak - before) / max(opened, 1)
            lines += [
                "",
                f"{opened} of {args.streams} streams held open at once through /api/chat "
                f"({errors} errors, {time.perf_counter() - began:.1f} s); "
                f"worker RSS {before / 1024:.0f} MiB -> {peak / 1024:.0f} MiB: **{per:.1f} KiB per open stream**",
            ]
        table = "\n".join(lines)
        print(table)
        append_results(table)


if __name__ == "__main__":
    main()
