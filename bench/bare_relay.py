"""The floor every table is measured against: a minimal ASGI app that forwards a chat request
to the fake upstream with one shared HTTP client and sends back what it answered — no auth, no
configuration, no limits, no usage.  Our service as a share of this is our overhead.

    BARE_RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 uvicorn bench.bare_relay:app ...
    BARE_RELAY_CLIENT=service  # the default: httpx2 on the service's transport (aiohttp's pool)
    BARE_RELAY_CLIENT=httpx2   # httpx2 on its own pool (httpcore2)
    BARE_RELAY_CLIENT=aiohttp  # aiohttp's client alone (bench/relay_clients.py compares the three)

Any POST is forwarded to ``{upstream}/chat/completions`` as it came (body bytes untouched, the
upstream's key in place of the caller's); a JSON answer is sent back whole, an SSE answer chunk
by chunk as it arrives.  Same client settings as the service: keep-alive pool, no redirects, no
proxies from the environment.
"""

from __future__ import annotations

import os
from typing import Any

UPSTREAM = os.environ.get("BARE_RELAY_UPSTREAM", "http://127.0.0.1:8001/v1").rstrip("/") + "/chat/completions"
CLIENT = os.environ.get("BARE_RELAY_CLIENT", "service")
HEADERS = {"authorization": "Bearer test-key", "content-type": "application/json"}
_client: Any = None


async def _read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _relay_httpx2(body: bytes, send: Any) -> None:
    global _client
    import httpx2

    if _client is None:
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30)
        if CLIENT == "service":  # the transport of endpoints/providers/http.py, for admin-configured URLs
            from endpoints.netguard import guarded_transport

            transport = guarded_transport(allow_private=True, limits=limits)
            _client = httpx2.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=60)
        else:
            _client = httpx2.AsyncClient(limits=limits, trust_env=False, follow_redirects=False, timeout=60)
    request = _client.build_request("POST", UPSTREAM, headers=HEADERS, content=body)
    response = await _client.send(request, stream=True)
    try:
        kind = response.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(b"content-type", kind)]})  # fmt: skip
        if kind.startswith(b"text/event-stream"):
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await response.aread()})
    finally:
        await response.aclose()


async def _relay_aiohttp(body: bytes, send: Any) -> None:
    global _client
    import aiohttp

    if _client is None:
        connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=30)
        _client = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)
    async with _client.post(UPSTREAM, data=body, headers=HEADERS, allow_redirects=False) as response:
        kind = response.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", kind)]})  # fmt: skip
        if kind.startswith(b"text/event-stream"):
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await response.read()})


_RELAY = _relay_aiohttp if CLIENT == "aiohttp" else _relay_httpx2


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _client is not None:
                    await (_client.close() if CLIENT == "aiohttp" else _client.aclose())
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":  # a health check for the harness
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await _RELAY(await _read_body(receive), send)
