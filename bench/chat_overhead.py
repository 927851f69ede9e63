"""What the gateway adds: chat through /api/chat, /v1/chat/completions and /v1/messages
(Anthropic's format, answered from the same OpenAI-format fake) vs straight to the fake
upstream and vs the bare relay (``bench/bare_relay.py``: the same request forwarded by a
minimal ASGI app with the same client), in one run; then 1,000 streams held open.

    .venv/bin/python bench/chat_overhead.py [--requests 2000] [--concurrency 1,16,64] [--streams 1000]
                                            [--rounds 1] [--workers 1]

Four processes: the fake OpenAI upstream, the bare relay, the service (uvicorn, one worker
each by default), and the load generator (this script).  Everything on 127.0.0.1; bounded in
count and time.  With ``--rounds N`` every path is measured N times, alternating, and the
table shows each row's median run (by req/s).  Prints a table and the goals as same-run ratios
and appends them to bench/RESULTS.md.  Figures are noisy on shared machines: compare the ratios.
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
from harness import (
    BODY,
    Processes,
    Result,
    append_results,
    machine,
    measure,
    rss_kib,
    start_bare_relay,
    start_service,
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


def _median(runs: list[Result]) -> Result:
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def _row(r: Result, direct: Result, bare: Result) -> str:
    ttft = f"{r.ttft50:.2f}" if r.ttft50 is not None else "—"
    added_ttft = f"{r.ttft50 - direct.ttft50:+.2f}" if r.ttft50 is not None and direct.ttft50 is not None else "—"
    share = f"{100 * r.rps / bare.rps:.0f} %" if bare.rps else "—"
    return (
        f"| {r.name} | {r.concurrency} | {r.rps:.0f} | {share} | {r.p50:.2f} | {r.p99:.2f} | "
        f"{r.p50 - direct.p50:+.2f} | {ttft} | {added_ttft} | {r.errors} |"
    )


def _goals(table: dict[tuple[str, int], Result], levels: list[int]) -> list[str]:
    """The issue's goals, as ratios of this run (one line each; missing levels are skipped)."""
    lines = ["", "Goals, same run:"]
    if 16 in levels:
        bare = table[("bare relay (json)", 16)]
        for path in ("/v1/chat/completions (json)", "/api/chat (json)"):
            share = 100 * table[(path, 16)].rps / max(bare.rps, 1e-9)
            lines.append(f"- {path}, 16 clients: **{share:.0f} % of the bare relay** (goal ≥ 60 %)")
    if 1 in levels:
        direct, bare = table[("upstream direct (json)", 1)], table[("bare relay (json)", 1)]
        for path in ("/v1/chat/completions (json)", "/api/chat (json)"):
            lines.append(f"- {path}, 1 client: **{table[(path, 1)].p50 - direct.p50:+.2f} ms p50** over the direct "
                         f"upstream (goal ≤ 1.5 ms; the bare relay: {bare.p50 - direct.p50:+.2f} ms)")  # fmt: skip
        stream_direct = table.get(("upstream direct (stream)", 1))
        for path in ("/v1/chat/completions (stream)", "/api/chat (stream)"):
            r = table.get((path, 1))
            if r and stream_direct and r.ttft50 is not None and stream_direct.ttft50 is not None:
                lines.append(f"- {path}, 1 client: **{r.ttft50 - stream_direct.ttft50:+.2f} ms TTFT** over the "
                             "direct upstream (goal ≤ 1.5 ms)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kinds", default="json,stream")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    with Processes() as procs:
        svc = start_service(procs, workers=args.workers)
        base, upstream = svc.base, svc.upstream
        bare = start_bare_relay(procs, upstream, workers=args.workers)
        auth = {"Authorization": f"Bearer {svc.token}"}
        direct_body = {**BODY, "model": "gpt-4o"}
        api_body = {**BODY, "endpoint": "fake", "model": "gpt-4o"}
        gateway_body = {**BODY, "model": "fake/gpt-4o"}
        messages_body = {**BODY, "model": "fake/gpt-4o"}  # max_tokens is required there, and BODY has it
        anthropic_auth = {"x-api-key": svc.token, "anthropic-version": "2023-06-01"}

        runs: dict[tuple[str, int], list[Result]] = {}
        for _round in range(args.rounds):
            for stream in (kind == "stream" for kind in args.kinds.split(",")):
                kind = "stream" if stream else "json"
                for c in levels:
                    n = args.requests if c > 1 else max(200, args.requests // 10)
                    plan = [
                        (f"upstream direct ({kind})", f"{upstream}/chat/completions", direct_body,
                         {"Authorization": "Bearer test-key"}, b"data: {"),
                        (f"bare relay ({kind})", f"{bare}/chat/completions", direct_body, {}, b"data: {"),
                        (f"/api/chat ({kind})", f"{base}/api/chat", api_body, auth, b"event: delta"),
                        (f"/v1/chat/completions ({kind})", f"{base}/v1/chat/completions", gateway_body, auth,
                         b'"content"'),
                        (f"/v1/messages ({kind})", f"{base}/v1/messages", messages_body, anthropic_auth,
                         b'"text_delta"'),
                    ]  # fmt: skip
                    for name, url, body, headers, marker in plan:
                        result = measure(name, url, {**body, "stream": stream}, headers, n, c, stream, marker)
                        runs.setdefault((name, c), []).append(result)
        table = {key: _median(results) for key, results in runs.items()}

        lines = [
            f"### chat_overhead — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, {args.workers} worker(s), "
            f"{'PostgreSQL' if 'postgres' in os.environ.get('DATABASE_URL', '') else 'SQLite'}"
            + (f", median of {args.rounds} alternating rounds" if args.rounds > 1 else ""),
            "",
            "| path | clients | req/s | of bare relay | p50 ms | p99 ms | added p50 ms | TTFT p50 ms | added TTFT ms "
            "| errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (name, c), r in table.items():
            kind = name.split(" (")[1].rstrip(")")
            lines.append(_row(r, table[(f"upstream direct ({kind})", c)], table[(f"bare relay ({kind})", c)]))
        lines += _goals(table, levels)

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
                f"worker RSS {before / 1024:.0f} MiB -> {peak / 1024:.0f} MiB: **{per:.1f} KiB per open stream** "
                "(goal ≤ 64 KiB)",
            ]
        text = "\n".join(lines)
        print(text)
        append_results(text)


if __name__ == "__main__":
    main()
