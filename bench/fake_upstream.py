"""A small, fast fake OpenAI upstream for benchmarks (stdlib asyncio, HTTP/1.1 keep-alive).

    python bench/fake_upstream.py PORT

POST /v1/chat/completions answers JSON or SSE (3 chunks + usage + [DONE]);
GET /v1/models lists gpt-4o.  POST /__slow {"delay": s, "chunks": n} makes
streams slow and long (to hold many open at once); {"delay": 0} restores.
"""

from __future__ import annotations

import asyncio
import json
import sys

STATE = {"delay": 0.0, "chunks": 0}

COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}).encode()  # fmt: skip


def chunk(delta: dict, finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = (
    chunk({"role": "assistant", "content": "Hello"}) + chunk({"content": ", world"}) + chunk({"content": "!"})
    + chunk({}, "stop")
    + b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o",'
    + b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}\n\n'
    + b"data: [DONE]\n\n"
)  # fmt: skip
MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "bench"}]}).encode()


def response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            _method, path, _ = lines[0].split(b" ", 2)
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if path.startswith(b"/v1/models"):
                writer.write(response("200 OK", MODELS))
            elif path == b"/__slow":
                STATE.update(json.loads(body))
                writer.write(response("200 OK", b"{}"))
            elif path.startswith(b"/v1/chat/completions"):
                if b'"stream": true' in body or b'"stream":true' in body:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    )
                    payload = STREAM
                    if STATE["delay"]:
                        first = chunk({"role": "assistant", "content": "Hi"})
                        writer.write(b"%x\r\n%s\r\n" % (len(first), first))
                        for _ in range(int(STATE["chunks"])):
                            await writer.drain()
                            await asyncio.sleep(STATE["delay"])
                            part = chunk({"content": " more"})
                            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
                else:
                    writer.write(response("200 OK", COMPLETION))
            else:
                writer.write(response("404 Not Found", b'{"error":{"message":"not found"}}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
        pass  # the client went away, or the benchmark is over
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
