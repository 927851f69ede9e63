"""Our gateway and LiteLLM's proxy side by side, on the same fake upstream, same load.

    .venv/bin/python bench/litellm_compare.py [--workers 2] [--requests 3000]

LiteLLM is installed into its own throw-away virtualenv (bench/.litellm-venv,
or LITELLM_VENV) the first time — it is never a dependency of the project.
Non-streamed chat completions at 16 clients and at 1 client, as in
../shared/PERFORMANCE.md; both services run the same number of workers.
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
from harness import ROOT, Processes, Result, append_results, free_port, machine, measure, start_service, wait_for

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
        wait_for(f"{litellm}/health/liveliness", timeout=120)
        ours = {"Authorization": f"Bearer {svc.token}"}
        rows: list[Result] = []
        for clients, count in ((16, args.requests), (1, max(300, args.requests // 10))):
            rows.append(measure("fake upstream directly", f"{svc.upstream}/chat/completions", BODY,
                                {"Authorization": "Bearer test-key"}, count, clients, False, b""))  # fmt: skip
            rows.append(measure("this service /v1/chat/completions", f"{svc.base}/v1/chat/completions",
                                {**BODY, "model": "fake/gpt-4o"}, ours, count, clients, False, b""))  # fmt: skip
            rows.append(measure("this service /api/chat", f"{svc.base}/api/chat",
                                {**BODY, "endpoint": "fake", "stream": False}, ours, count, clients, False, b""))  # fmt: skip
            rows.append(measure(f"LiteLLM proxy {LITELLM_VERSION}", f"{litellm}/v1/chat/completions", BODY,
                                {"Authorization": f"Bearer {master}"}, count, clients, False, b""))  # fmt: skip
    lines = [
        f"### litellm_compare — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}, {args.workers} workers each, "
        "non-streamed",
        "",
        "| path | clients | req/s | p50 ms | p99 ms | added p50 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    direct = {r.concurrency: r for r in rows if r.name.startswith("fake upstream")}
    for r in rows:
        lines.append(
            f"| {r.name} | {r.concurrency} | {r.rps:.0f} | {r.p50:.2f} | {r.p99:.2f} | "
            f"{r.p50 - direct[r.concurrency].p50:+.2f} | {r.errors} |"
        )
    ours16 = next(r for r in rows if r.concurrency == 16 and "/v1/" in r.name and "this service" in r.name)
    lite16 = next(r for r in rows if r.concurrency == 16 and r.name.startswith("LiteLLM"))
    lines += [
        "",
        f"Throughput at 16 clients: this service {ours16.rps:.0f} req/s = "
        f"**{ours16.rps / max(lite16.rps, 1e-9):.1f}x LiteLLM** and "
        f"**{100 * ours16.rps / max(direct[16].rps, 1e-9):.0f} % of the direct upstream**.",
    ]
    table = "\n".join(lines)
    print(table)
    append_results(table)


if __name__ == "__main__":
    main()
