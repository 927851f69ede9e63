"""The HTTP client itself: the bare relay (``bench/bare_relay.py``) on the service's client
(httpx2 on the aiohttp transport of ``endpoints/netguard``), on httpx2's own pool and on aiohttp
alone, side by side on one fake upstream, in alternating rounds; requests/s, p50 and the relay
process's CPU time per request (steadier than req/s on a shared machine).

    .venv/bin/python bench/relay_clients.py [--requests 3000] [--rounds 3]

Appends the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    BODY,
    PY,
    ROOT,
    Processes,
    append_results,
    free_port,
    machine,
    measure,
    start_bare_relay,
    wait_for,
)

CLIENTS = {"service": "httpx2 on the service's aiohttp transport", "httpx2": "httpx2 on its own pool",
           "aiohttp": "aiohttp alone"}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with Processes() as procs:
        up_port = free_port()
        procs.start([PY, str(ROOT / "bench" / "fake_upstream.py"), str(up_port)], dict(os.environ))
        upstream = f"http://127.0.0.1:{up_port}/v1"
        wait_for(f"{upstream}/models")
        relays = {}
        for client in CLIENTS:
            base = start_bare_relay(procs, upstream, client=client)
            relays[client] = (base, procs.procs[-1].pid)
        runs: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
        for round_ in range(args.rounds):
            for kind, clients in (("json", 16), ("stream", 16), ("json", 1)):
                n = args.requests if clients > 1 else max(300, args.requests // 10)
                order = list(relays) if round_ % 2 == 0 else list(reversed(relays))
                for client in order:
                    base, pid = relays[client]
                    before = cpu_seconds(pid)
                    r = measure(client, f"{base}/chat/completions", {**BODY, "model": "gpt-4o", "stream": kind == "stream"},
                                {}, n, clients, kind == "stream", b"data: {")  # fmt: skip
                    cpu_ms = (cpu_seconds(pid) - before) / (n + min(50, n)) * 1000  # the warm-up included
                    runs.setdefault((client, kind, clients), []).append((r.rps, r.p50, cpu_ms))
    lines = [
        f"### relay_clients — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, 1 worker each, "
        f"median of {args.rounds} alternating rounds",
        "",
        "| bare relay on | answer | clients | req/s | p50 ms | relay CPU ms per request |",
        "|---|---|---|---|---|---|",
    ]
    for (client, kind, clients), values in runs.items():
        rps, p50, cpu = (statistics.median(v[i] for v in values) for i in range(3))
        lines.append(f"| {CLIENTS[client]} | {kind} | {clients} | {rps:.0f} | {p50:.2f} | {cpu:.2f} |")
    table = "\n".join(lines)
    print(table)
    append_results(table)


if __name__ == "__main__":
    main()
