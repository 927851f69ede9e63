"""Our gateway and LiteLLM's proxy side by side, on the same fake upstream, same load, beside
the bare relay (``bench/bare_relay.py``) as the floor.

    .venv/bin/python bench/litellm_compare.py [--workers 2] [--requests 3000] [--rounds 1]

LiteLLM is installed into its own throw-away virtualenv (bench/.litellm-venv,
or LITELLM_VENV) the first time — it is never a dependency of the project.
Non-streamed chat completions at 16 clients and at 1 client, as in
../shared/PERFORMANCE.md; all three run the same number of workers.  With ``--rounds N``
each path is measured N times, alternating, and the median run (by req/s) is shown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ROOT,
    Processes,
    Result,
    append_results,
    free_port,
    machine,
    measure,
    start_bare_relay,
    start_service,
    wait_for,
)

LITELLM_VERSION = "1.108.7"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 16}


def litellm_venv() -> Path:
    venv = Path(os.environ.get("LITELLM_VENV", ROOT / "bench" / ".litellm-venv"))
    if not (venv / "bin" / "litellm").exists():
        print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} (once)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    return venv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    venv = litellm_venv()
    with Processes() as procs:
        svc = start_service(procs, workers=args.workers)
        config = Path(tempfile.mkdtemp(prefix="litellm-")) / "config.yaml"
        config.write_text(
            "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n"
            f"      api_base: {svc.upstream}\n      api_key: test-key\n"
            "litellm_settings:\n  telemetry: false\n"
        )
        port = free_port()
        master = "sk-bench-" + "0" * 32
        env = {
            **os.environ,
            "LITELLM_MASTER_KEY": master,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of its price list at start-up
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "NO_DOCS": "True",
        }
        procs.start(
            [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
             "--num_workers", str(args.workers)],
            env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        litellm = f"http://127.0.0.1:{port}"
        wait_for(f"{litellm}/health/liveliness", timeout=300)  # slow to start on a loaded machine
        ours = {"Authorization": f"Bearer {svc.token}"}
        bare = start_bare_relay(procs, svc.upstream, workers=args.workers)
        runs: dict[tuple[str, int], list[Result]] = {}
        for round_ in range(args.rounds):
            for clients, count in ((16, args.requests), (1, max(300, args.requests // 10))):
                plan = [
                    ("fake upstream directly", f"{svc.upstream}/chat/completions", BODY,
                     {"Authorization": "Bearer test-key"}),
                    ("bare relay", f"{bare}/chat/completions", BODY, {}),
                    ("this service /v1/chat/completions", f"{svc.base}/v1/chat/completions",
                     {**BODY, "model": "fake/gpt-4o"}, ours),
                    ("this service /api/chat", f"{svc.base}/api/chat", {**BODY, "endpoint": "fake", "stream": False},
                     ours),
                    (f"LiteLLM proxy {LITELLM_VERSION}", f"{litellm}/v1/chat/completions", BODY,
                     {"Authorization": f"Bearer {master}"}),
                ]  # fmt: skip
                for name, url, body, headers in plan if round_ % 2 == 0 else reversed(plan):
                    runs.setdefault((name, clients), []).append(measure(name, url, body, headers, count, clients,
                                                                        False, b""))  # fmt: skip
        rows = [sorted(results, key=lambda r: r.rps)[len(results) // 2] for results in runs.values()]
    lines = [
        f"### litellm_compare — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, {args.workers} workers each, "
        "non-streamed",
        "",
        "| path | clients | req/s | of bare relay | p50 ms | p99 ms | added p50 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    direct = {r.concurrency: r for r in rows if r.name.startswith("fake upstream")}
    floor = {r.concurrency: r for r in rows if r.name.startswith("bare relay")}
    for r in rows:
        lines.append(
            f"| {r.name} | {r.concurrency} | {r.rps:.0f} | {100 * r.rps / max(floor[r.concurrency].rps, 1e-9):.0f} % | "
            f"{r.p50:.2f} | {r.p99:.2f} | {r.p50 - direct[r.concurrency].p50:+.2f} | {r.errors} |"
        )
    ours16 = next(r for r in rows if r.concurrency == 16 and "/v1/" in r.name and "this service" in r.name)
    lite16 = next(r for r in rows if r.concurrency == 16 and r.name.startswith("LiteLLM"))
    lines += [
        "",
        f"Throughput at 16 clients: this service {ours16.rps:.0f} req/s = "
        f"**{ours16.rps / max(lite16.rps, 1e-9):.1f}x LiteLLM** (goal ≥ 5x), "
        f"**{100 * ours16.rps / max(floor[16].rps, 1e-9):.0f} % of the bare relay** (goal ≥ 60 %) and "
        f"{100 * ours16.rps / max(direct[16].rps, 1e-9):.0f} % of the direct upstream.",
    ]
    table = "\n".join(lines)
    print(table)
    append_results(table)


if __name__ == "__main__":
    main()
